"""dgate's CGI mode (``dgate "-y<query>"``, or ``QUERY_STRING``/``CONTENT_LENGTH`` with no
arguments), as Apache/PHP's ``dgate.php`` and ``wado.php`` run it (conquest-lua-web.md §10.6).

The configuration is the ``dicom.ini`` of the current folder (the web folder).
``requestType=WADO`` sends ``wadoparse:<query>`` to the server at ``WebServerFor``
(``[webdefaults] address``; ``-q`` overrides) on ``TCPPort`` (``-p`` overrides) and writes
its reply (header block and body) to stdout, as ``DgateWADO`` does.

Page mode (``mode=…``, newweb): ``[AnyPage] source`` (unless the mode is one of its
``exceptions``), else a built-in page, else ``[<mode>] source``/``line0``, else ``[DefaultPage]``; a ``*`` in
``source`` is the mode (``[DefaultPage] source = *.lua``: ``mode=listpatients`` runs
``listpatients.lua``). A ``.lua`` source runs in a new Lua state (the section's ``header``
printed first, backslashes as newlines) with the CGI globals of conquest-lua-web.md §10.6
(``mode``, ``query_string``, ``series``/``series2``, ``patid``, ``studyuid``, …), ``CGI()``,
``HTML()``, ``print`` and ``servercommand`` going to the server at ``address``:``port``;
its output is the CGI answer. Other sources (``lineN`` keys or a text file) are templates:
``%var%`` replaced (the globals, the section's keys, the CGI parameters), ``<%= e %>`` by
a Lua value, ``#`` lines dropped, ``--`` lines sent as server commands (reply to stdout),
``<?lua … ?>`` blocks run. The built-in pages (``top``, ``querystudies``, … :mod:`.legacy`)
come before a ``[<mode>]`` section, as in the original; the ``mode`` variable of an
``[AnyPage]``/``[DefaultPage]`` page is that section's name (``CGI('mode')`` is the request's).
A POST body on stdin (``CONTENT_LENGTH``) is read as the original does: form fields and the
uploaded file of a multipart body, or the whole body as the upload.
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
    port = _ini_value(ini, "webdefaults", "port", _ini_value(ini, root, "TCPPort", "104"))
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
    flat = {k: v[0] for k, v in params.items()}
    upload = flat.get("_passfile_", "")
    posted = _posted_upload(flat)                   # a POST body on stdin (Apache CGI)
    upload = upload or posted
    try:
        return _answer(ini, flat, query, address, int(port or 104), ae, upload, out)
    finally:
        if posted:
            Path(posted).unlink(missing_ok=True)    # the original deletes its upload at the end


def _answer(ini: IniFile | None, flat: dict[str, str], query: str, address: str, port: int, ae: str, upload: str,
            out) -> int:
    """The original's order: ``[AnyPage]`` (unless the mode is an exception), the built-in
    pages (``top``, or no mode without ``[DefaultPage]``), the mode's own section, then
    ``[DefaultPage]``; nothing else answers (404 here; the original wrote nothing)."""
    from .legacy import LegacyPages, is_builtin
    mode = flat.get("mode", "")
    any_page = ini is not None and _has_page(ini, "AnyPage")
    default_page = ini is not None and _has_page(ini, "DefaultPage")
    if any_page and ini is not None:
        exceptions = [e.strip() for e in (ini.get("AnyPage", "exceptions") or "").split(",")]
        if mode not in exceptions:
            return run_page(ini, "AnyPage", "AnyPage", flat, query, address, port, ae, upload, out, mode)
    pages = LegacyPages(ini, flat, address, port, ae, out, upload)
    if (not mode and not default_page) or mode == "top" or (mode and is_builtin(mode, bool(pages.read_only))):
        pages.run(mode or "top")
        return 0
    if ini is not None and mode and _has_page(ini, mode):
        return run_page(ini, mode, mode, flat, query, address, port, ae, upload, out, mode)
    if ini is not None and default_page:
        return run_page(ini, "DefaultPage", "DefaultPage", flat, query, address, port, ae, upload, out, mode)
    out.write(f"Status: 404 Not Found\nContent-type: text/plain\n\n"
              f"dgate CGI mode '{mode}': no built-in page of that name and no [{mode}], [DefaultPage] or [AnyPage] "
              f"page in dicom.ini\n".encode("latin-1", "replace"))
    out.flush()
    return 0


def _posted_upload(params: dict[str, str]) -> str:
    """``CONTENT_LENGTH`` bytes on stdin, as the original's CGI reader takes them: a multipart
    body gives its form fields (into ``params``) and its first file (saved with the file's
    extension); any other body is saved as the upload (``.xml`` when it starts with ``<``,
    else ``.dat``). Returns the saved file's name, or ''."""
    import tempfile
    try:
        length = int(os.environ.get("CONTENT_LENGTH", "") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return ""
    body = sys.stdin.buffer.read(length)
    if not body:
        return ""
    data, ext = body, ".xml" if body.startswith(b"<") else ".dat"
    ctype = os.environ.get("CONTENT_TYPE", "")
    if body.startswith(b"-"):
        from .multipart import MultipartError, parse_buffer, parse_media_type
        _media, mp = parse_media_type(ctype) if ctype else ("", {})
        boundary = mp.get("boundary") or body[2:body.find(b"\r\n")].decode("latin-1")
        try:
            parts = parse_buffer(body, boundary)
        except MultipartError:
            return ""
        data = None
        for part in parts:
            _d, disp = parse_media_type("x; " + part.headers.get("content-disposition", "").partition(";")[2])
            if "filename" in disp:
                if data is None:
                    data, ext = part.body, os.path.splitext(disp["filename"])[1]
            elif disp.get("name"):
                params[disp["name"]] = part.body.decode("latin-1")
        if data is None:
            return ""
    fd, name = tempfile.mkstemp(suffix=ext, prefix="dgatecgi")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return name


PAGE_VARS = ("mode", "slice", "series", "study", "db", "lw", "query", "source", "dest", "key", "size", "dsize",
             "compress", "iconsize", "graphic", "viewer", "patientidmatch", "patientnamematch", "studydatematch",
             "startdatematch")


def _has_page(ini: IniFile, section: str) -> bool:
    return bool(ini.get(section, "source") or ini.get(section, "line0"))


def cgi_globals(ini: IniFile, params: dict[str, str], query: str, address: str, port: int, upload: str) -> dict:
    root = _ini_value(ini, "sscscp", "MicroPACS", "sscscp")
    g = {name: params.get(name, "") for name in PAGE_VARS}
    defaults = {"size": "512", "dsize": "0", "compress": "n4", "iconsize": "48", "graphic": "bmp",
                "viewer": "seriesviewer"}
    for name, dflt in defaults.items():
        g[name] = g[name] or _ini_value(ini, "webdefaults", name, dflt)
    script = os.environ.get("SCRIPT_NAME", "dgate")
    address_ini = _ini_value(ini, root, "WEBScriptAddress", f"http://{os.environ.get('SERVER_NAME', '')}/cgi-bin/dgate")
    g.update(query_string=query, server_name=os.environ.get("SERVER_NAME", ""), script_name=script,
             path_translated=os.environ.get("PATH_TRANSLATED", ""), port=str(port), address=address,
             webscriptadress=address_ini, webscriptaddress=address_ini,
             webcodebase=_ini_value(ini, root, "WebCodeBase", code_base(address_ini)),
             extra=f"port={port}&address={address}", uploadedfile=upload)
    from ..version import DGATE_VERSION
    g["version"] = DGATE_VERSION
    for name in ("series", "slice", "study"):
        g[name + "2"] = g[name]
        g[name] = g[name].replace(" ", "%20")
    g["patid"], _, g["studyuid"] = params.get("study", "").partition(":")
    g["patid2"] = g["patid"]
    g["seruid"] = params.get("series", "").partition(":")[2]
    g["sopuid"] = params.get("slice", "").partition(":")[2]
    return g


def code_base(script_address: str) -> str:
    """The original's ``WebCodeBase`` default: the script address without its last two path
    parts, keeping the slash (``http://host/cgi-bin/dgate`` → ``http://host/``)."""
    base = script_address
    for keep in (0, 1):
        cut = base.rfind("/")
        if cut >= 0:
            base = base[:cut + keep]
    return base


def _lua(params: dict[str, str], address: str, port: int, ae: str, out, upload: str):
    from ..config import ConfigError, Configuration
    from ..luabind.context import LuaServices
    from ..luabind.runtime import LuaState

    def write(text: str) -> None:
        out.write(text.encode("latin-1", "replace"))
        out.flush()
    try:
        config = Configuration.open(Path.cwd())
    except (ConfigError, OSError):
        config = None
    cgi = dict(params)
    if upload:
        try:
            cgi[""] = Path(upload).read_bytes().decode("latin-1")
        except OSError:
            cgi[""] = ""
    services = LuaServices(config=config, own_ae=ae, server_host=address, server_port=port, console=write,
                           html_out=write, cgi=cgi)
    return LuaState(services, "cgi")


def run_page(ini: IniFile, section: str, mode: str, params: dict[str, str], query: str, address: str, port: int,
             ae: str, upload: str, out, cgi_mode: str | None = None) -> int:
    """Answer one page request (module docstring) on ``out``: ``mode`` is the section's name
    (``AnyPage``/``DefaultPage`` for those, as the original's ``mode`` variable), a ``*`` in
    ``source`` is the requested mode (``cgi_mode``)."""
    source = (ini.get(section, "source") or "").replace("*", params.get("mode", "") if cgi_mode is None else cgi_mode)
    g = cgi_globals(ini, params, query, address, port, upload)
    g["mode"] = mode
    state = _lua(params, address, port, ae, out, upload)
    for name, value in g.items():
        state.set_global(name, value)
    if source.lower().endswith(".lua"):
        header = ini.get(section, "header")
        if header:
            out.write(header.replace("\\", "\n").encode("latin-1", "replace"))
            out.flush()
        path = Path(source)
        if not path.is_file():
            out.write(f"Content-type: text/plain\n\nno page {source}\n".encode("latin-1", "replace"))
            return 0
        state.run(f"dofile([[{path}]])")
        out.flush()
        return 0
    if source:
        try:
            lines = Path(source).read_text(encoding="latin-1").splitlines()
        except OSError:
            lines = []
    else:
        lines, n = [], 0
        while (line := ini.get(section, f"line{n}")) is not None:
            lines.append(line)
            n += 1
    header = (ini.get(section, "header") or "Content-type: text/html").replace("\\", "\n")
    out.write((header.rstrip("\n") + "\n\n").encode("latin-1", "replace"))
    values = dict(params)
    values.update({k: ini.get(section, k) or "" for k in ini.keys(section)})
    values.update(g)
    values["server"] = f"{address}:{port}"
    _template(lines, values, state, out, address, port, ae)
    out.flush()
    return 0


def _template(lines: list[str], values: dict, state, out, address: str, port: int, ae: str) -> None:
    import re

    from ..net.control import ControlError, send_command
    block: list[str] | None = None
    for line in lines:
        if block is not None:
            end = line.find("?>")
            if end < 0:
                block.append(line)
                continue
            block.append(line[:end])
            state.run("\n".join(block))
            block, line = None, line[end + 2:]
            if not line:
                continue
        if line.startswith("#"):
            continue
        line = re.sub(r"%([A-Za-z0-9_]+)%", lambda m: str(values.get(m.group(1), m.group(0))), line)
        line = re.sub(r"<%=(.*?)%>", lambda m: str(state.eval_string(m.group(1).strip()) or ""), line)
        if line.startswith("--"):
            try:
                reply = send_command(line[2:], host=address, port=port, ae=ae, console_text=None)
            except (ControlError, OSError, ValueError):
                continue
            if reply.has_payload:
                out.write(reply.data())
            continue
        start = line.find("<?lua")
        if start >= 0:
            out.write((line[:start]).encode("latin-1", "replace"))
            rest = line[start + 5:]
            end = rest.find("?>")
            if end < 0:
                block = [rest]
                continue
            state.run(rest[:end])
            line = rest[end + 2:]
        out.write((line + "\n").encode("latin-1", "replace"))
