"""``dgate`` entry point: what every invocation does before and while parsing options.

Order (conquest-protocol.md §1): CGI short-circuit, ``-w`` scan, dicom.ini checks,
dictionary, then options left to right; with no option that exits, the process
becomes the server.

Two light paths come first, because scripts call them thousands of times: a
``--command:`` (sent to the running server) and ``-?`` import only the standard library
and the dicom.ini reader (:func:`quick`). Everything else loads the configuration.

Differences from 1.5.0e, on purpose:

* BaseDir is the current folder (the original uses the folder of the executable, which
  for an installed Python script is ``bin/``); ``-w`` works as in the original;
* the server started in a folder without dicom.ini writes the default configuration set,
  as Conquest's installer would, instead of ``Configuration file ... not found``; a
  ``--command:`` there writes nothing and talks to 127.0.0.1:5678 as ``CONQUESTSRV1``
  (servertask's defaults) unless ``-p``/``-q``/``-h`` say otherwise;
* ``-?`` prints the help even where there is no dicom.ini.
"""
from __future__ import annotations

import os
import sys

# Options that change nothing for a --command: that follows them (logging, -w, -$, -c).
_CLIENT_NEUTRAL = frozenset("vbu!^#Llx$wWc")
DEFAULT_PORT, DEFAULT_AE = "5678", "CONQUESTSRV1"


def _scan_workdir(argv: list[str]) -> tuple[str, str] | int:
    """The ``-w`` rules: ``-wDIR``, ``-wPATH/x.ini`` or ``-wname.ini``."""
    base, ini = os.getcwd(), "dicom.ini"
    for arg in argv:
        if arg[:2] not in ("-w", "-W"):
            continue
        value = arg[2:]
        if value.lower().endswith(".ini"):
            if "/" in value or os.sep in value:
                base, ini = os.path.dirname(value) or ".", os.path.basename(value)
            else:
                ini = value
            continue
        if not os.path.exists(value):
            sys.stdout.write(f"Directory {value} does not exist.\n")
            return 1
        if not os.path.isdir(value):
            sys.stdout.write(f"{value} is not a directory.\n")
            return 1
        base = value
    return os.path.realpath(base), ini


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)

    if any(a.startswith("-y") for a in argv) or (
            not argv and (os.environ.get("CONTENT_LENGTH") or "QUERY_STRING" in os.environ)):
        from ..web.cgi import main as cgi_main
        return cgi_main(argv)

    scanned = _scan_workdir(argv)
    if isinstance(scanned, int):
        return scanned
    base_dir, ini_name = scanned
    done = quick(argv, base_dir, ini_name)
    if done is not None:
        return done
    return full(argv, base_dir, ini_name)


# -- the light paths ---------------------------------------------------------------------------
def quick(argv: list[str], base_dir: str, ini_name: str) -> int | None:
    """``--command:`` and ``-?`` without loading the configuration; None: take the full path."""
    port = host = ae = None
    for arg in argv:
        if arg.startswith("--"):
            command = arg[2:]
            if command.startswith("dolua:"):
                return None                      # runs locally, with the Lua capability
            return _client(command, os.path.join(base_dir, ini_name), port, host, ae)
        if not arg.startswith("-") or len(arg) < 2:
            continue
        letter, value = arg[1], arg[2:]
        if letter == "?":
            from .help import help_text
            sys.stderr.write(help_text())
            return 0
        if letter == "p":
            port = value
        elif letter == "q":
            host = value
        elif letter == "h":
            ae = value
        elif letter not in _CLIENT_NEUTRAL:
            return None
    return None


def _client(command: str, ini_path: str, port: str | None, host: str | None, ae: str | None) -> int | None:
    """Send ``command`` to the server named by -p/-q/-h, else by dicom.ini (TCPPort, MyACRNema)."""
    tcp_port, my_ae = DEFAULT_PORT, DEFAULT_AE
    if os.path.exists(ini_path):
        from ..config.ini import IniFile
        from ..config.keys import Settings
        ini = IniFile(ini_path)
        if not ini.get("sscscp", "MicroPACS") or ini.get("lua", "startup"):
            return None                          # the full path reports it / runs [lua] startup first
        settings = Settings(ini, os.path.dirname(ini_path))
        tcp_port, my_ae = settings.str("TCPPort"), settings.str("MyACRNema")
    from .client import send_to_server
    return send_to_server(command, host or "127.0.0.1", port or tcp_port, ae or my_ae)


# -- everything else -----------------------------------------------------------------------------
def full(argv: list[str], base_dir_text: str, ini_name: str) -> int:
    """Load the configuration (writing the default set for a new server folder), then options."""
    from pathlib import Path

    from ..config import ConfigError, Configuration
    from .context import Invocation, MissingCapability

    base_dir = Path(base_dir_text)
    ini_path = base_dir / ini_name
    if not ini_path.exists():
        if ini_name != "dicom.ini" or any(a.startswith("--") for a in argv):
            sys.stdout.write(f"Configuration file {ini_path} not found, but required.\n")
            return 1
        from ..config.defaults import create_default_config
        written = create_default_config(base_dir)
        sys.stderr.write(f"dgate: created default configuration in {base_dir}: "
                         f"{', '.join(p.name for p in written)}\n")

    try:
        config = Configuration.open(base_dir, ini_name)
    except ConfigError as exc:
        sys.stdout.write(f"*** {exc}\n")
        return 1
    if not config.ini.get("sscscp", "MicroPACS"):
        sys.stdout.write(f"MicroPACS entry in {ini_path} not found, but required.\n")
        return 1

    inv = Invocation(config)
    inv.logs.set_pacs_name(config.settings.str("PACSName"))
    inv.logs.open_files(config.settings.path("TroubleLog"), config.settings.path("UserLog"))
    dic = config.settings.path("Dictionary")
    if not os.path.exists(dic):                  # it is read when first needed
        sys.stdout.write(f"Dictionary file {dic} is missing, some server functions will not work correctly\n")
    for warning in config.warnings():
        sys.stderr.write(f"dgate: warning: {warning}\n")

    from ..luabind.autostart import needs_startup
    if needs_startup(config.ini):
        from ..luabind.entry import startup
        if startup(config, inv.logs, argv) is not None:
            return 1

    try:
        return run_options(inv, argv)
    except MissingCapability as exc:
        sys.stderr.write(f"dgate: {exc}\n")
        return 1
    except ConfigError as exc:
        sys.stderr.write(f"dgate: *** {exc}\n")
        return 1
    except Exception as exc:
        driver = sys.modules.get("dgate.db.driver")   # loaded only by the options that use a database
        if driver is not None and isinstance(exc, driver.DatabaseError):
            sys.stderr.write(f"dgate: *** database: {exc}\n")
            return 1
        raise


def run_options(inv, argv: list[str]) -> int:
    """``ParseArgs``: handle options left to right, then run the server."""
    from . import options
    for index, argument in enumerate(argv):
        if argument.startswith("--"):
            return server_command(inv, argument[2:], argv)
        if not argument.startswith("-") or len(argument) < 2:
            continue  # legacy child-process argument: ignored on Unix
        handler, text = options.lookup(argument)
        result = handler(inv, text, argv[index + 1:])
        if result is not None:
            return result
    return run_server(inv)


def server_command(inv, command: str, argv: list[str] | None = None) -> int:
    """``--command:args``: local for dolua, otherwise sent to the server."""
    if command.startswith("dolua:"):
        from ..luabind.entry import dolua
        return dolua(inv.config, inv.logs, command[6:], list(argv or []), inv.server_address, inv.tcp_port,
                     inv.my_ae)
    from .client import send_to_server
    return send_to_server(command, inv.server_address, inv.tcp_port, inv.my_ae)


def run_server(inv) -> int:
    """Become the server (``dgate`` with no utility option)."""
    from ..luabind.server_wiring import prepare_server
    from .serve import serve
    prepare_server(inv.config, inv.logs, inv.my_ae, inv.tcp_port)
    return serve(inv)


if __name__ == "__main__":
    sys.exit(main())
