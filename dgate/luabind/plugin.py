"""The Lua capability as a server plug-in (listed in :data:`dgate.hub.plugins.MODULES`).

The hub configures Lua when it starts (:func:`.server_wiring.prepare_server`); a worker
process does it here when it serves its first association: the process-wide services and
the ``FileNameSyntax = lua:`` evaluator (conquest-lua-web.md §1.4), so objects stored by a
worker get their ``lua:`` file names. The ``[lua]`` association/import hooks themselves
are not wired to the core yet.
"""
from __future__ import annotations

import threading

from ..net.hooks import ASSOCIATION_START

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
