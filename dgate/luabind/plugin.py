"""The Lua capability as a server plug-in (listed in :data:`dgate.hub.plugins.MODULES`).

The hub configures Lua when it starts (:func:`.server_wiring.prepare_server`); a worker
process does it here when it serves its first association: the process-wide services and
the ``FileNameSyntax = lua:`` evaluator (conquest-lua-web.md §1.4), so objects stored by a
worker get their ``lua:`` file names. The ``[lua]`` hooks (association, command,
endassociation, clienterror, printserver, ``lua:``/``luastart:`` in the association's
state, background/nightly, the hub's global state) are installed by
:func:`.serverhooks.install`; the association's state is ``info.extra["lua"]``.
"""
from __future__ import annotations

import threading

from ..net.hooks import ASSOCIATION_START
from . import serverhooks

_lock = threading.Lock()


def configure_process(info) -> None:
    """Configure this process's Lua for the server serving ``info`` (once per configuration)."""
    from . import naming, states
    from .context import LuaServices
    server = info.server
    with _lock:
        if states._services is None or states._services.config is not server.config:
            states.configure(LuaServices(config=server.config, logs=server.logs, own_ae=server.ae_title,
                                         server_port=server.port))
        naming.install()


ASSOCIATION_START.register("lua.configure_process", configure_process, order=0)
serverhooks.install()
