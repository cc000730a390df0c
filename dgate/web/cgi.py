"""dgate's CGI mode (``dgate "-y<query>"``, or ``QUERY_STRING``/``CONTENT_LENGTH`` with no
arguments), as Apache/PHP's ``dgate.php`` and ``wado.php`` run it (conquest-lua-web.md §10.6).

The configuration is the ``dicom.ini`` of the current folder (the web folder).
``requestType=WADO`` sends ``wadoparse:<query>`` to the server at ``WebServerFor``
(``[webdefaults] address``; ``-q`` overrides) on ``TCPPort`` (``-p`` overrides) and writes
its reply (header block and body) to stdout, as ``DgateWADO`` does. The newweb page mode
(``mode=…``: ``[AnyPage]``/``[DefaultPage]`` sections, ``.lua`` sources and ``%var%`` /
``<?lua ?>`` templates run in Lua) is not implemented; such requests get a CGI
``Status: 501`` answer saying so.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import parse_qs

from ..config.ini import IniFile


def query_of(argv: list[str]) -> str:
    for arg in argv:
        if arg.startswith("-y"):
            return arg[2:]
    return os.environ.get("QUERY_STRING", "")


def _ini_value(ini: IniFile | None, section: str, key: str, default: str) -> str:
    if ini is None:
        return default
    value = ini.get(section, key)
    return value if value not in (None, "") else default


def main(argv: list[str], out=None) -> int:
    out = out or sys.stdout.buffer
    query = query_of(argv)
    params = parse_qs(query, keep_blank_values=True)
    ini_path = Path.cwd() / "dicom.ini"
    ini = IniFile(ini_path) if ini_path.is_file() else None
    root = _ini_value(ini, "sscscp", "MicroPACS", "sscscp") if ini else "sscscp"
    address = _ini_value(ini, "webdefaults", "address", _ini_value(ini, root, "WebServerFor", "127.0.0.1"))
    port = _ini_value(ini, root, "TCPPort", "104")
    ae = _ini_value(ini, root, "MyACRNema", "CONQUESTSRV1")
    for arg in argv:
        if arg.startswith("-q"):
            address = arg[2:]
        elif arg.startswith("-p"):
            port = arg[2:]
        elif arg.startswith("-h"):
            ae = arg[2:]
    if params.get("requestType", [""])[0] == "WADO":
        from ..net.control import ControlError, send_command
        try:
            reply = send_command(f"wadoparse:{query}", host=address, port=int(port or 104), ae=ae,
                                 console_text=None)
        except (ControlError, OSError, ValueError):
            return 0                       # the original prints nothing when the server is away
        if reply.has_payload:
            out.write(reply.data())
            out.flush()
        return 0
    mode = params.get("mode", ["top"])[0]
    out.write(f"Status: 501 Not Implemented\nContent-type: text/plain\n\n"
              f"dgate CGI mode '{mode}': the newweb Lua page mode is not implemented in this dgate; "
              f"requestType=WADO works.\n".encode("latin-1", "replace"))
    out.flush()
    return 0
