"""Command-line Lua entry points (conquest-lua-web.md §1.6 ``startup``, §1.7).

* :func:`startup` — what every non-CGI ``dgate`` invocation does first: the autostart
  ``dgate.lua`` (current folder, then ``lua/``) and ``[lua] startup``, in the global
  state; a ``destroy()``/``reject()`` verdict makes dgate exit with 1;
* :func:`dolua` — ``dgate --dolua:<chunk or file>``: runs here, not in the server, with
  ``print`` on stdout, ``version`` and ``arg`` (``arg[1]`` is the program, as dgate sets
  it), a file name tried as given and below ``lua/``; exit code 0;
* :func:`json_dump` — ``-js<file>`` / ``-jj<file>``: the JSON of a file on stdout, exit 1;
* :func:`servertask_dolua` — ``servertask --dolua:`` / a bare chunk: a plain state whose
  only Conquest function is ``servercommand``.

Arguments from the command line are turned back into their bytes (``os.fsencode``), so a
chunk's non-ASCII text reaches Lua unchanged.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from .context import RC_DESTROY, RC_REJECT, LuaContext, LuaServices, _stdout_writer


def arg_text(text: str) -> str:
    """A command-line string as the byte string Lua gets."""
    try:
        return os.fsencode(text).decode("latin-1")
    except (UnicodeError, ValueError):
        return text


def program_name() -> str:
    name = sys.argv[0] if sys.argv else "dgate"
    return "dgate" if not name or name.endswith("__main__.py") or name == "-m" else name


def make_services(config, logs, console: bool, host: str = "127.0.0.1", port: Any = None,
                  ae: str = "") -> LuaServices:
    services = LuaServices(config=config, logs=logs, own_ae=ae, server_host=host,
                           server_port=int(port) if port not in (None, "") else None)
    if console:
        services.console = _stdout_writer
    return services


def _arg_table(state, argv: list[str]):
    return state.table([arg_text(a) for a in [program_name(), *argv]])


def startup(config, logs, argv: list[str]) -> int | None:
    """Autostart file and ``[lua] startup``; 1 when a verdict refuses start-up."""
    from ..version import DGATE_VERSION
    from . import states
    states.configure(make_services(config, logs, console=False))
    state = states.global_state()
    from .autostart import autostart_stem
    stem = autostart_stem()
    for candidate in (Path(f"{stem}.lua"), Path("lua", f"{stem}.lua")):
        if candidate.is_file():
            state.set_global("version", DGATE_VERSION)
            state.set_global("arg", _arg_table(state, argv))
            ctx = LuaContext("standalone", "standalone")
            state.run(f"dofile([[{candidate}]])", ctx)
            if ctx.rc in (RC_DESTROY, RC_REJECT):
                return 1
            break
    chunk = config.ini.get("lua", "startup") if config is not None else None
    if chunk:
        ctx = LuaContext("global", "global")
        state.run(chunk, ctx)
        if ctx.rc in (RC_DESTROY, RC_REJECT):
            return 1
    return None


def dolua(config, logs, text: str, argv: list[str], host: str = "127.0.0.1", port: Any = None,
          ae: str = "") -> int:
    """``dgate --dolua:<chunk or file>`` in the global state; always 0."""
    from ..version import DGATE_VERSION
    from . import states
    services = states.services() if states._services is not None else None
    if services is None or services.config is not config:
        services = make_services(config, logs, console=True, host=host, port=port, ae=ae)
        states.configure(services)
    else:
        services.console = _stdout_writer
        services.server_host, services.own_ae = host, ae or services.own_ae
        if port not in (None, ""):
            services.server_port = int(port)
    state = states.global_state()
    state.set_global("version", DGATE_VERSION)
    state.set_global("arg", _arg_table(state, argv))
    name = arg_text(text)
    if os.path.exists(text):
        chunk = f"dofile([[{name}]])"
    elif os.path.exists(os.path.join("lua", text)):
        chunk = f"dofile([[lua{os.sep}{name}]])"
    else:
        chunk = name
    state.run(chunk, LuaContext())
    sys.stdout.flush()
    return 0


def json_dump(config, logs, text: str, full: bool) -> int:
    """``-js<file>`` / ``-jj<file>``: ``io.write`` of the file's JSON; exit code 1."""
    from . import states
    if states._services is None or states._services.config is not config:
        states.configure(make_services(config, logs, console=True))
    state = states.global_state()
    chunk = f"local d=DicomObject:new();d:Read([[{arg_text(text)}]]);" \
            f"io.write(d:Serialize(true,{'true' if full else 'false'}))"
    state.run(chunk, LuaContext())
    state.run("io.stdout:flush()")
    return 1


def servertask_dolua(chunk: str, host: str, port: Any, ae: str) -> int:
    """``servertask --dolua:<chunk>``: a plain Lua 5.1 state with ``servercommand``."""
    from ..net.control import server_command
    from .lupa51 import new_runtime
    lua = new_runtime()

    def servercommand(command: Any = None, mode: Any = None):
        if command is None:
            return ()
        reply = server_command(str(command), "" if mode is None else str(mode), host=host, port=int(port), ae=ae)
        return () if reply is None else reply.decode("latin-1")
    lua.execute("local f = ...; servercommand = function(...) return f(...) end", servercommand)
    runner = lua.eval("""function(chunk)
      local f, err = loadstring(chunk)
      if not f then return "*** lua syntax error " .. err .. " in '" .. chunk .. "'" end
      local ok, msg = pcall(f)
      if not ok then return "*** lua run error " .. tostring(msg) .. " in '" .. chunk .. "'" end
      return nil
    end""")
    message = runner(arg_text(chunk))
    sys.stdout.flush()
    if message:
        sys.stdout.write(message + "\n")
    return 0
