"""``python3 -m dgate.web [-wFOLDER] [--port N] [--address A]``: the web server on its own,
for the dgate configuration in FOLDER (default: the current folder)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import ConfigError, Configuration
from ..log import StdoutSink, logs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m dgate.web", description="dgate's web server on its own")
    parser.add_argument("-w", dest="folder", default=".", help="the dgate folder (with dicom.ini)")
    parser.add_argument("--port", type=int, default=None, help="port (default WebPort, 8086)")
    parser.add_argument("--address", default=None, help="bind address (default WebAddress)")
    args = parser.parse_args(argv)
    folder = Path(args.folder).resolve()
    if not (folder / "dicom.ini").is_file():
        sys.stderr.write(f"dgate web: no dicom.ini in {folder}\n")
        return 1
    try:
        config = Configuration.open(folder)
    except ConfigError as exc:
        sys.stderr.write(f"dgate web: {exc}\n")
        return 1
    logs.operator.send_to(StdoutSink())
    logs.open_files(config.settings.path("TroubleLog"), config.settings.path("UserLog"))
    from ..hub import plugins
    plugins.load(logs)      # IncomingCompression, import steps and converters for STOW, as in the server
    from .server import run_web
    return run_web(config, logs, args.port, args.address)


if __name__ == "__main__":
    sys.exit(main())
