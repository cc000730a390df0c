"""What a server process does for Lua when it starts (the part of the wiring that needs
no change to the network core): the process-wide services and the ``lua:`` file-name
evaluator. The ``[lua] background``/``nightly`` task is the hub task ``lua.background``
(:mod:`.serverhooks`)."""
from __future__ import annotations

from typing import Any

from .context import LuaServices


def prepare_server(config, logs, ae: str = "", port: Any = None) -> None:
    """Configure Lua for this server process (keeps the global state ``[lua] startup``
    made when it used the same configuration)."""
    from . import naming, states
    services = LuaServices(config=config, logs=logs, own_ae=ae,
                           server_port=int(port) if port not in (None, "") else None)
    if states._services is not None and states._services.config is config:
        services = states._services
        services.own_ae = ae or services.own_ae
        services.server_port = int(port) if port not in (None, "") else services.server_port
    else:
        states.configure(services)
    naming.install()
    return None
