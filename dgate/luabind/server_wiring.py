"""What a server process does for Lua when it starts (the part of the wiring that needs
no change to the network core): the process-wide services, the ``lua:`` file-name
evaluator, and the ``[lua] background``/``nightly`` task."""
from __future__ import annotations

from typing import Any

from .context import LuaServices


def prepare_server(config, logs, ae: str = "", port: Any = None) -> Any:
    """Configure Lua for this server process; returns the background task (started when
    ``[lua] background`` or ``nightly`` is set) or None."""
    from . import naming, states
    from .hooks import LuaBackground
    services = LuaServices(config=config, logs=logs, own_ae=ae,
                           server_port=int(port) if port not in (None, "") else None)
    if states._services is not None and states._services.config is config:
        services = states._services
        services.own_ae = ae or services.own_ae
        services.server_port = int(port) if port not in (None, "") else services.server_port
    else:
        states.configure(services)
    naming.install()
    if config.ini.get("lua", "background") or config.ini.get("lua", "nightly"):
        task = LuaBackground(config)
        task.start()
        return task
    return None
