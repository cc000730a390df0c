"""``dgate`` entry point: what every invocation does before and while parsing options.

Order (conquest-protocol.md §1): CGI short-circuit, ``-w`` scan, dicom.ini checks,
dictionary, then options left to right; with no option that exits, the process
becomes the server.

Differences from 1.5.0e, on purpose:

* BaseDir is the current folder (the original uses the folder of the executable, which
  for an installed Python script is ``bin/``); ``-w`` works as in the original;
* a folder without dicom.ini gets the default configuration set, as Conquest's
  installer would write it, instead of ``Configuration file ... not found``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..config import ConfigError, Configuration
from ..config.defaults import create_default_config
from ..db.driver import DatabaseError
from . import options
from .context import Invocation, MissingCapability


def _scan_workdir(argv: list[str]) -> tuple[Path, str] | int:
    """The ``-w`` rules: ``-wDIR``, ``-wPATH/x.ini`` or ``-wname.ini``."""
    base, ini = Path.cwd(), "dicom.ini"
    for arg in argv:
        if arg[:2] not in ("-w", "-W"):
            continue
        value = arg[2:]
        if value.lower().endswith(".ini"):
            if "/" in value or os.sep in value:
                base, ini = Path(value).parent, Path(value).name
            else:
                ini = value
            continue
        directory = Path(value)
        if not directory.exists():
            sys.stdout.write(f"Directory {value} does not exist.\n")
            return 1
        if not directory.is_dir():
            sys.stdout.write(f"{value} is not a directory.\n")
            return 1
        base = directory
    return base.resolve(), ini


def _report_warnings(config: Configuration) -> None:
    for warning in config.warnings():
        sys.stderr.write(f"dgate: warning: {warning}\n")


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
    ini_path = base_dir / ini_name
    if not ini_path.exists():
        if ini_name != "dicom.ini":
            sys.stdout.write(f"Configuration file {ini_path} not found, but required.\n")
            return 1
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
    try:
        _ = config.dictionary
    except ConfigError:
        dic = config.settings.path("Dictionary")
        sys.stdout.write(f"Dictionary file {dic} is missing, some server functions will not work correctly\n")
    _report_warnings(config)

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
    except DatabaseError as exc:
        sys.stderr.write(f"dgate: *** database: {exc}\n")
        return 1


def run_options(inv: Invocation, argv: list[str]) -> int:
    """``ParseArgs``: handle options left to right, then run the server."""
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


def server_command(inv: Invocation, command: str, argv: list[str] | None = None) -> int:
    """``--command:args``: local for dolua/addlocalfile, otherwise sent to the server."""
    from .client import send_to_server
    if command.startswith("dolua:"):
        from ..luabind.entry import dolua
        return dolua(inv.config, inv.logs, command[6:], list(argv or []), inv.server_address, inv.tcp_port,
                     inv.my_ae)
    return send_to_server(command, inv.server_address, inv.tcp_port, inv.my_ae)


def run_server(inv: Invocation) -> int:
    """Become the server (``dgate`` with no utility option)."""
    from ..luabind.server_wiring import prepare_server
    from .serve import serve
    prepare_server(inv.config, inv.logs, inv.my_ae, inv.tcp_port)
    return serve(inv)


if __name__ == "__main__":
    sys.exit(main())
