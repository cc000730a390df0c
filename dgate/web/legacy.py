"""dgate's built-in web pages of CGI mode (``dgate "-ymode=…"``), written anew.

The original answers these modes itself when no ``[AnyPage]`` takes the request (its
built-in pages run before a ``[<mode>]`` section of the web dicom.ini is looked at; ``top``,
and an empty mode without ``[DefaultPage]``, is the start page). Each page asks the running
server (``address``:``port`` of the web dicom.ini, ``-q``/``-p``) with server commands and
links to the other modes as the original does: ``dgate?port=P&address=A&mode=…`` plus the
mode's parameters, so bookmarks and scripts that call these URLs keep working. The HTML
is our own; values are escaped (the original wrote them raw).

Modes and what they show (parameters after the mode):

* ``top``: the server status, forms for ``querypatients`` (``patientidmatch``,
  ``patientnamematch``), ``querystudies`` (+ ``studydatematch``), ``queryworklist``
  (+ ``startdatematch``), a remote finder (``patientfinder``/``studyfinder``/``seriesfinder``
  on ``dest``, an AE of acrnema.map, with ``query``), a file upload (``addlocalfile``) and
  links to ``showconfig``, ``showsops``, ``showdb``, ``showdictionary``;
* ``showconfig`` / ``showsops`` / ``showdb`` / ``showdictionary``: tables (file, parameter,
  value, description) of ``get_param:``, ``get_amap:``, ``get_sop:``…``get_remoteae:``,
  ``get_sqldef:``, ``get_dic:`` answers;
* ``querypatients``, ``querystudies``, ``queryseries``, ``queryimages`` (at most 50, with
  thumbnails), ``queryallimages``: the local database through ``query:``/``query2:`` with
  ``query`` (an SQL condition; the ``*match`` parameters add ``like`` terms); a row links to
  the next level, to ``view`` (the ``viewer``/``studyviewer`` mode), ``push``
  (``studymover``/``seriesmover``, ``WEBPush``), ``mark`` (a ``[markstudy]``/``[markseries]``
  page, with ``key``) and ``delete`` (``studydeleter``/``seriesdeleter``, not when
  ``WEBReadOnly``); a ``[shoppingcart]`` page is linked with ``key``;
* ``patientfinder``, ``studyfinder``, ``seriesfinder``, ``imagefinder``: C-FIND on ``dest``
  through the finder commands (``query`` is the search text, ``=uid`` exact); images link to
  WADO (``[wadoservers] <dest>`` or this CGI);
* ``studymover``/``seriesmover``: a destination list (acrnema.map, no wildcard rows, not the
  ``source``), a zip file when ``source`` is ``(local)``; ``movestudy``/``moveseries`` move
  (``movestudy:``/``moveseries:``);
* ``addlocalfile`` / ``attachfile`` (``script``): the uploaded file (a multipart POST on
  stdin, or dgate.php's ``_passfile_``) to ``addimagefile:`` / ``attachfile:``;
* ``studydeleter``/``seriesdeleter`` (a confirmation form) and ``deletestudy``/
  ``deleteseries`` (``study``/``series`` = ``patid:uid``), only when not ``WEBReadOnly``;
* ``queryworklist``, ``editrecord``, ``addrecord``, ``saverecord``, ``deleterecord``: the
  worklist table (``db``, ``query``; only ``DICOMWorkList`` can be written, and not when
  ``WEBReadOnly``);
* ``sliceviewer``, ``headerdump``, ``slice`` (``convert_to_<graphic>:`` image), ``dicom``
  (``convert_to_dicom:``), ``zipseries``/``zipstudy`` (``export:…,cgi,call zip.cq``),
  ``imagelisturls``/``imagelisthttp``/``imagelistfiles`` (``imagelister:``), ``noviewer``,
  ``serversideviewer`` (a slice, level, window, frame and colour chooser over ``slice``).
"""
from __future__ import annotations

import html
import os
from typing import Any
from urllib.parse import quote_plus

from ..config.ini import IniFile

SEP, END = "\x1f", "\x1e"          # field and row marks in the formats we send

MODES = ("top", "showconfig", "showsops", "showdb", "showdictionary", "querypatients", "querystudies",
         "queryseries", "queryimages", "queryallimages", "patientfinder", "studyfinder", "seriesfinder",
         "imagefinder", "studymover", "seriesmover", "movestudy", "moveseries", "addlocalfile", "attachfile",
         "queryworklist", "editrecord", "addrecord", "saverecord", "deleterecord", "sliceviewer", "headerdump",
         "slice", "dicom", "zipseries", "zipstudy", "imagelisturls", "imagelisthttp", "imagelistfiles", "noviewer",
         "serversideviewer")
WRITE_MODES = ("studydeleter", "seriesdeleter", "deletestudy", "deleteseries")     # not when WEBReadOnly

DB_TABLES = {"dicomworklist": "WORKLIST", "dicompatients": "PATIENT", "dicomstudies": "STUDY",
             "dicomseries": "SERIES", "dicomimages": "IMAGE"}


def is_builtin(mode: str, read_only: bool) -> bool:
    return mode in MODES or (not read_only and mode in WRITE_MODES)


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def text_esc(value: object) -> str:
    """Escaped for the body of an element (quotes kept)."""
    return html.escape(str(value), quote=False)


class LegacyPages:
    """One request: ``run(mode)`` writes the CGI answer (header block and page) to ``out``."""

    def __init__(self, ini: IniFile | None, params: dict[str, str], address: str, port: int, ae: str, out,
                 upload: str = "", script: str = "dgate"):
        self.ini, self.params, self.out = ini, params, out
        self.address, self.port, self.ae = address, port, ae
        self.upload, self.script = upload, script
        self.session: Any = None              # a net.control.CommandSession once asked
        self.failed = ""
        root = self.ini_get("sscscp", "MicroPACS", "sscscp")
        self.root = root
        self.read_only = _int(self.ini_get(root, "WEBReadOnly", "1"))
        self.web_push = _int(self.ini_get(root, "WEBPush", "1"))
        server_name = os.environ.get("SERVER_NAME", "")
        self.script_address = self.ini_get(root, "WEBScriptAddress", f"http://{server_name}/cgi-bin/dgate")
        self.mag0_address = self.ini_get(root, "WEBMAG0Address", f"http://{server_name}/mag0")
        from .cgi import code_base
        self.code_base = self.ini_get(root, "WebCodeBase", code_base(self.script_address))
        self.extra = f"port={port}&address={address}"
        defaults = {"size": "512", "dsize": "0", "compress": "n4", "iconsize": "48", "graphic": "bmp",
                    "viewer": "seriesviewer"}
        self.v = {name: params.get(name) or self.ini_get("webdefaults", name, dflt) for name, dflt in defaults.items()}
        self.v["studyviewer"] = self.ini_get("webdefaults", "studyviewer", "")
        for name, dflt in (("query", ""), ("slice", ""), ("series", ""), ("study", ""), ("db", ""), ("lw", "0/0"),
                           ("source", "(local)"), ("dest", ""), ("key", ""), ("script", "")):
            self.v[name] = params.get(name, dflt)
        terms = [self.v["query"]] if self.v["query"] else []
        for name, column in (("patientidmatch", "PatientID"), ("patientnamematch", "PatientNam"),
                             ("studydatematch", "StudyDate"), ("startdatematch", "StartDate")):
            if params.get(name):
                terms.append(f"{column} like '%{params[name]}%'")
        self.v["query"] = " and ".join(terms)

    # -- configuration and output ------------------------------------------------------------
    def ini_get(self, section: str, key: str, default: str = "") -> str:
        if self.ini is None:
            return default
        value = self.ini.get(section, key)
        return value if value not in (None, "") else default

    def has_page(self, section: str) -> bool:
        return bool(self.ini_get(section, "source") or self.ini_get(section, "line0"))

    def emit(self, text: str) -> None:
        self.out.write(text.encode("latin-1", "replace"))

    def raw(self, data: bytes | None) -> None:
        if data:
            self.out.write(data)

    def begin(self, heading: str, no_cache: bool = False, header: str = "") -> None:
        from ..version import DGATE_VERSION
        block = "Content-type: text/html\n" + ("Cache-Control: no-cache\n" if no_cache else "") + header
        self.emit(block + "\n")
        self.emit(f"<!DOCTYPE html>\n<html><head><meta charset='iso-8859-1'>"
                  f"<title>dgate {esc(DGATE_VERSION)} - {esc(heading)}</title>\n"
                  "<style>body{font-family:sans-serif;background:#eef3ee;margin:1em}"
                  "table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}"
                  "caption{font-weight:bold;text-align:left}.error{color:#a00}</style></head>\n<body>\n"
                  f"<h2>Conquest DICOM server {esc(DGATE_VERSION)}: {esc(heading)}</h2>\n")

    def end(self) -> None:
        if self.failed:
            self.emit(f"<p class=error>{esc(self.failed)}</p>\n")
        self.emit("</body></html>\n")

    def url(self, mode: str, *pairs: tuple[str, str]) -> str:
        """``dgate?port=P&address=A&mode=<mode>&k=v…`` (values URL-encoded)."""
        tail = "".join(f"&{k}={quote_plus(str(v), safe=':/*')}" for k, v in pairs)
        return f"{self.script}?{self.extra}&mode={mode}{tail}"

    def a(self, text: str, mode: str, *pairs: tuple[str, str]) -> str:
        return f"<a href=\"{esc(self.url(mode, *pairs))}\">{esc(text)}</a>"

    def hidden(self, name: str, value: object) -> str:
        return f"<input type=hidden name={name} value=\"{esc(value)}\">"

    def form_start(self, mode: str | None, method: str = "", extra: str = "") -> str:
        text = f"<form action=\"{esc(self.script)}\"{method}{extra}>"
        if mode:
            text += self.hidden("mode", mode)
        return text + self.hidden("port", self.port) + self.hidden("address", self.address)

    # -- the server -----------------------------------------------------------------------------
    def ask(self, command: str, upload: bytes | None = None) -> bytes | None:
        """One server command on the page's association; None (and a note) when it failed."""
        from ..net.control import CommandSession, ControlError
        try:
            if self.session is None:
                self.session = CommandSession(self.address, self.port, self.ae)
            reply = self.session.send(command, console_text=None, upload=upload)
        except (ControlError, OSError, ValueError) as exc:
            self.session = None
            self.failed = f"The DICOM server at {self.address}:{self.port} did not answer: {exc}"
            return None
        return reply.data() if reply.has_payload else b""

    def text(self, command: str) -> str:
        return (self.ask(command) or b"").decode("latin-1")

    def rows(self, command: str, fields: int) -> list[list[str]]:
        """Rows of a ``query:``/finder/lister answer: ``command`` gets our field format."""
        fmt = SEP.join(["%s"] * fields) + END
        data = self.text(command.replace("{fmt}", fmt))
        rows = [chunk.lstrip("\n").split(SEP) for chunk in data.split(END)[:-1]]
        return [r for r in rows if len(r) == fields]

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    # -- dispatch -------------------------------------------------------------------------------
    def run(self, mode: str) -> None:
        try:
            getattr(self, "page_" + (mode or "top"))()
        finally:
            self.close()
            self.out.flush()

    # -- start page and configuration ---------------------------------------------------------
    def page_top(self) -> None:
        self.begin("start")
        self.emit(f"<p><img src=\"{esc(self.code_base)}conquest.jpg\" alt=\"Conquest\"></p>\n")
        self.emit("<pre>" + text_esc(self.text("display_status:")) + "</pre>\n<hr>\n<table>\n")
        key = self.hidden("key", self.v["key"])
        forms = [("querypatients", "List local patients", "patientidmatch patientnamematch", key),
                 ("querystudies", "List local studies", "patientidmatch patientnamematch studydatematch", key),
                 ("queryworklist", "List local worklist", "patientidmatch patientnamematch startdatematch", "")]
        labels = {"patientidmatch": "Patient ID", "patientnamematch": "Name", "studydatematch": "Date",
                  "startdatematch": "Date"}
        for mode, title, names, more in forms:
            inputs = "".join(f"<td>{labels[n]}: <input name={n} type=text>" for n in names.split())
            self.emit(f"<tr>{self.form_start(mode)}{more}<td>{title}{inputs}"
                      f"<td><input type=submit value=Go></form></tr>\n")
        aes = self.amap_names()
        options = "".join(f"<option value=\"{esc(ae)}\">{esc(ae)}</option>" for ae in aes)
        self.emit(f"<tr>{self.form_start(None)}{self.hidden('source', self.v['source'])}{key}"
                  "<td>Find <select name=mode><option value=patientfinder>Patient</option>"
                  "<option value=studyfinder>Study</option><option value=seriesfinder>Series</option></select>"
                  f"<td>on server <select name=dest>{options}</select>"
                  "<td>Search: <input name=query type=text><td><input type=submit value=Go></form></tr>\n</table>\n")
        self.emit(self.form_start("addlocalfile", " method=post", " enctype=\"multipart/form-data\"")
                  + "Upload a file into the server (dcm/v2/HL7/zip/7z/gz/tar): "
                  "<input name=filetoupload type=file size=40> <input type=submit value=Go></form>\n<hr>\n<p>")
        for mode, text in (("showconfig", "Server configuration"), ("showsops", "Accepted SOP classes"),
                           ("showdb", "Database layout"), ("showdictionary", "DICOM dictionary (long)")):
            self.emit(self.a(text, mode) + "<br>\n")
        self.emit("</p>\n")
        self.end()

    def amap_names(self) -> list[str]:
        """AE titles of acrnema.map without the wildcard rows (``get_amaps:``)."""
        return [r[0] for r in self.rows("get_amaps:{fmt}", 1) if r[0]]

    def tabulate(self, caption: str, items) -> None:
        """Rows of (file, command, description) answered by the server, in a table; a run of
        numbered commands stops at the first empty answer."""
        self.emit(f"<table>\n<caption>{esc(caption)}</caption>\n"
                  "<tr><th>File<th>Parameter<th>Value<th>Description</tr>\n")
        for file, command, description in items:
            numbered = "%d" in command
            for n in range(10000 if numbered else 1):
                cmd = command.replace("%d", str(n))
                value = self.text(cmd)
                if not value:
                    break
                name = cmd.partition(":")[2]
                self.emit(f"<tr><td>{esc(file)}<td>{esc(name)}<td>{esc(value)}<td>{esc(description)}</tr>\n")
                if self.failed:
                    break
        self.emit("</table>\n")

    def page_showconfig(self) -> None:
        self.begin("configuration", no_cache=True)
        ini = "dicom.ini"
        items = [(ini, "get_param:MyACRNema", "DICOM name of the server"),
                 (ini, "get_param:TCPPort", "TCP/IP port where the server listens"),
                 (ini, "get_param:FileNameSyntax", "Names of new files"),
                 (ini, "get_param:FixPhilips", "Strip leading zeros from 10 digit patient IDs"),
                 (ini, "get_param:FixKodak", "Strip leading zeros from 8 digit patient IDs"),
                 (ini, "get_param:IncomingCompression", "Compression of incoming objects"),
                 (ini, "get_param:ArchiveCompression", "Compression of archived objects"),
                 (ini, "get_param:MAGDevices", "Number of storage devices"),
                 (ini, "get_param:MAGDevice%d", "Folder where data is stored"),
                 (ini, "get_param:VirtualServerFor%d", "Pass-through for this server"),
                 (ini, "get_param:ExportConverter%d", "Script run on just stored objects"),
                 (ini, "get_param:ImportConverter%d", "Script run on incoming objects"),
                 (ini, "get_param:QueryConverter0", "Script run on queries"),
                 (ini, "get_param:WorkListQueryConverter0", "Script run on worklist queries"),
                 (ini, "get_param:RetrieveConverter0", "Script run on sent objects"),
                 (ini, "get_param:RetrieveResultConverter0", "Script run on query results"),
                 (ini, "get_param:ModalityWorkListQueryResultConverter0", "Script run on worklist query results"),
                 (self.ini_get(self.root, "ACRNemaMap", "acrnema.map"), "get_amap:%d", "Known DICOM provider")]
        self.tabulate("Configuration parameters", items)
        self.end()

    def page_showsops(self) -> None:
        self.begin("accepted SOP classes")
        lst = "dgatesop.lst"
        self.tabulate("Accepted UIDs and AE titles", [
            (lst, "get_sop:%d", "Accepted SOP class UID"), (lst, "get_transfer:%d", "Accepted transfer syntax"),
            (lst, "get_application:%d", "Accepted application context"),
            (lst, "get_localae:%d", "Accepted called AE title"), (lst, "get_remoteae:%d", "Accepted calling AE title")])
        self.end()

    def page_showdb(self) -> None:
        self.begin("database layout")
        self.tabulate("Database fields", [("dicom.sql", f"get_sqldef:{level},%d", f"{name} database field")
                                          for level, name in (("PATIENT", "Patient"), ("STUDY", "Study"),
                                                              ("SERIES", "Series"), ("IMAGE", "Image"),
                                                              ("WORKLIST", "Worklist"))])
        self.end()

    def page_showdictionary(self) -> None:
        self.begin("DICOM dictionary")
        self.tabulate("Dictionary", [("dgate.dic", "get_dic:%d", "Dictionary item")])
        self.end()

    # -- local database ---------------------------------------------------------------------------
    def table(self, caption: str, heads: list[str]) -> None:
        self.emit(f"<table>\n<caption>{esc(caption)}</caption>\n<tr>"
                  + "".join(f"<th>{esc(h)}" for h in heads) + "</tr>\n")

    def cart(self) -> None:
        if self.has_page("shoppingcart") and self.v["key"]:
            caption = self.ini_get("shoppingcart", "caption", "Shopping cart")
            self.emit("<p>" + self.a(caption, "shoppingcart", ("key", self.v["key"])) + "</p>\n")

    def where(self, join: str = "") -> str:
        q = self.v["query"]
        return f"{q} and {join}" if q and join else (q or join)

    def page_querypatients(self) -> None:
        self.begin("patients", no_cache=True)
        which = "selected" if self.v["query"] else "all"
        self.table(f"List of {which} patients on the local server", ["Patient ID", "Name", "Sex", "Birth date"])
        for pid, name, sex, birth in self.rows(
                "query:DICOMPatients|patientid,patientnam,patientsex,patientbir|" + self.where() + "|{fmt}", 4):
            link = self.a(pid, "querystudies", ("key", self.v["key"]), ("query", f"patientid = '{pid}'"))
            self.emit(f"<tr><td>{link}<td>{esc(name)}<td>{esc(sex)}<td>{esc(birth)}</tr>\n")
        self.emit("</table>\n")
        self.end()

    def mark(self, section: str, kind: str, value: str, source: str) -> str:
        if not (self.has_page(section) and self.v["key"]):
            return ""
        caption = self.ini_get(section, "caption", "Mark")
        return "<td>" + self.a(caption, section, (kind, value), ("source", source), ("key", self.v["key"]))

    def actions(self, level: str, ident: str, viewer: str) -> str:
        """The view, push, mark and delete cells of a ``study`` or ``series`` row (``ident``:
        ``patientid:uid``), each only where the original shows it."""
        source, key = self.v["source"], self.v["key"]
        cells = ""
        if viewer:
            cells += "<td>" + self.a("view", viewer, (level, ident), ("size", self.v["size"]))
        if self.web_push:
            cells += "<td>" + self.a("push", f"{level}mover", (level, ident), ("source", source), ("key", key))
        cells += self.mark(f"mark{level}", level, ident, source)
        if not self.read_only:
            cells += "<td>" + self.a("delete", f"{level}deleter", (level, ident))
        return cells

    def page_querystudies(self) -> None:
        self.begin("studies", no_cache=True)
        which = "selected" if self.v["query"] else "all"
        self.table(f"List of {which} studies on the local server",
                   ["Patient ID", "Name", "Study date", "Study description", "Study modality"])
        key = self.v["key"]
        for pid, st, name, date, descr, modality in self.rows(
                "query:DICOMStudies|patientid,studyinsta,patientnam,studydate,studydescr,studymodal|"
                + self.where() + "|{fmt}", 6):
            study = f"{pid}:{st}"
            link = self.a(pid, "queryseries", ("key", key),
                          ("query", f"DICOMStudies.patientid = '{pid}' and DICOMSeries.studyinsta = '{st}'"))
            row = f"<tr><td>{link}<td>{esc(name)}<td>{esc(date)}<td>{esc(descr)}<td>{esc(modality)}"
            self.emit(row + self.actions("study", study, self.v["studyviewer"]) + "</tr>\n")
        self.emit("</table>\n")
        self.cart()
        self.end()

    def page_queryseries(self) -> None:
        self.begin("series", no_cache=True)
        self.table("List of series on the local server",
                   ["Patient ID", "Name", "Series date", "Series time", "Series description", "Modality"])
        key, size = self.v["key"], self.v["size"]
        for pid, se, name, date, time, descr, modality in self.rows(
                "query:DICOMSeries,DICOMStudies|DICOMStudies.patientid,DICOMSeries.seriesinst,DICOMStudies.patientnam,"
                "DICOMSeries.seriesdate,DICOMSeries.seriestime,DICOMSeries.seriesdesc,DICOMSeries.modality|"
                + self.where("DICOMStudies.studyinsta=DICOMSeries.studyinsta") + "|{fmt}", 7):
            series = f"{pid}:{se}"
            cond = f"DICOMStudies.patientid = '{pid}' and DICOMSeries.seriesinst = '{se}'"
            row = (f"<tr><td>{self.a(pid, 'queryallimages', ('key', key), ('query', cond))}<td>{esc(name)}"
                   f"<td>{esc(date)}<td>{esc(time)}<td>{esc(descr)}<td>{esc(modality)}"
                   f"<td>{self.a('thumbs', 'queryimages', ('query', cond), ('size', size))}")
            self.emit(row + self.actions("series", series, self.v["viewer"]) + "</tr>\n")
        self.emit("</table>\n")
        self.cart()
        self.end()

    IMAGE_QUERY = ("DICOMImages,DICOMSeries,DICOMStudies|DICOMStudies.patientid,DICOMImages.sopinstanc,"
                   "DICOMStudies.patientnam,DICOMSeries.seriesdate,DICOMImages.imagenumbe,DICOMImages.slicelocat|")
    IMAGE_JOIN = ("DICOMStudies.studyinsta=DICOMSeries.studyinsta and "
                  "DICOMSeries.seriesinst=DICOMImages.seriesinst")

    def images(self, thumbs: bool) -> None:
        size, graphic = self.v["size"], self.v["graphic"]
        if thumbs:
            command = "query2:" + self.IMAGE_QUERY + self.where(self.IMAGE_JOIN) + "|{fmt}|50"
        else:
            command = "query:" + self.IMAGE_QUERY + self.where(self.IMAGE_JOIN) + "|{fmt}"
        for pid, sop, name, date, number, location in self.rows(command, 6):
            slice_ = f"{pid}:{sop}"
            row = (f"<tr><td>{self.a(pid, 'sliceviewer', ('slice', slice_), ('size', size), ('graphic', graphic))}"
                   f"<td>{esc(name)}<td>{esc(date)}<td>{esc(number)}<td>{esc(location)}<td>")
            dump = esc(self.url("headerdump", ("slice", slice_)))
            if thumbs:
                icon = esc(self.url("slice", ("slice", slice_), ("size", self.v["iconsize"]), ("graphic", graphic)))
                row += f"<a href=\"{dump}\"><img src=\"{icon}\" alt=\"{esc(number)}\"></a>"
            else:
                row += f"<a href=\"{dump}\">*</a>"
            self.emit(row + "</tr>\n")
        self.emit("</table>\n")

    def page_queryimages(self) -> None:
        self.begin("images")
        self.table("List of images with thumbnails on the local server (at most 50)",
                   ["Patient ID", "Name", "Date", "Image number", "Slice location", "Icon"])
        self.images(True)
        self.end()

    def page_queryallimages(self) -> None:
        self.begin("images")
        self.table("List of all images on the local server",
                   ["Patient ID", "Name", "Date", "Image number", "Slice location", "Header"])
        self.images(False)
        self.end()

    # -- remote finders ---------------------------------------------------------------------------
    def finder_caption(self, what: str) -> str:
        which = "selected" if self.v["query"] else "all"
        return f"List of {which} {what} on {self.v['dest']}"

    def finder(self, level: str, fields: int) -> list[list[str]]:
        return self.rows(f"{level}finder:{self.v['dest']}|{self.v['query']}|{{fmt}}", fields)

    def page_patientfinder(self) -> None:
        self.begin("patients", no_cache=True)
        self.table(self.finder_caption("patients"), ["ID", "Name"])
        dest, key = self.v["dest"], self.v["key"]
        for name, pid in self.finder("patient", 2):
            link = self.a(pid, "studyfinder", ("dest", dest), ("key", key), ("query", "=" + pid))
            self.emit(f"<tr><td>{link}<td>{esc(name)}</tr>\n")
        self.emit("</table>\n")
        self.end()

    def page_studyfinder(self) -> None:
        self.begin("studies", no_cache=True)
        self.table(self.finder_caption("studies"), ["Date", "Modality", "Name", "ID", "UID"])
        dest, key = self.v["dest"], self.v["key"]
        for date, modality, name, pid, st in self.finder("study", 5):
            row = (f"<tr><td>{self.a(date, 'seriesfinder', ('dest', dest), ('key', key), ('query', '=' + st))}"
                   f"<td>{esc(modality)}<td>{esc(name)}<td>{esc(pid)}<td>{esc(st)}")
            if self.web_push:
                row += "<td>" + self.a("push", "studymover", ("study", f"{pid}:{st}"), ("source", dest), ("key", key))
            row += self.mark("markstudy", "study", f"{pid}:{st}", dest)
            self.emit(row + "</tr>\n")
        self.emit("</table>\n")
        self.cart()
        self.end()

    def page_seriesfinder(self) -> None:
        self.begin("series", no_cache=True)
        self.table(self.finder_caption("series"), ["Date", "Time", "Modality", "Name", "ID", "UID"])
        dest, key = self.v["dest"], self.v["key"]
        for date, time, modality, name, pid, st, se in self.finder("series", 7):
            row = (f"<tr><td>{self.a(date, 'imagefinder', ('dest', dest), ('key', key), ('query', '=' + se))}"
                   f"<td>{esc(time)}<td>{esc(modality)}<td>{esc(name)}<td>{esc(pid)}<td>{esc(se)}")
            pairs = (("series", f"{pid}:{se}"), ("study", f"{pid}:{st}"), ("source", dest), ("key", key))
            if self.web_push:
                row += "<td>" + self.a("push", "seriesmover", *pairs)
            if self.has_page("markseries") and key:
                row += "<td>" + self.a(self.ini_get("markseries", "caption", "Mark"), "markseries", *pairs)
            self.emit(row + "</tr>\n")
        self.emit("</table>\n")
        self.cart()
        self.end()

    def page_imagefinder(self) -> None:
        dest = self.v["dest"]
        wado = self.ini_get("wadoservers", dest, f"{self.script}?{self.extra}") if dest else \
            f"{self.script}?{self.extra}"
        self.begin("images", no_cache=True)
        self.table(self.finder_caption("images"), ["Sop", "ID", "Slice", "Location", "View"])
        for sop, _name, pid, st, se, number, location in self.finder("image", 7):
            view = (f"{wado}&requestType=WADO&objectUID={quote_plus(sop)}&studyUID={quote_plus(st)}"
                    f"&seriesUID={quote_plus(se)}&contentType=image/gif")
            self.emit(f"<tr><td>{esc(sop)}<td>{esc(pid)}<td>{esc(number)}<td>{esc(location)}"
                      f"<td><a href=\"{esc(view)}\">view (WADO)</a></tr>\n")
        self.emit("</table>\n")
        self.end()

    # -- moving, zipping, uploading, deleting -------------------------------------------------------
    def destinations(self) -> list[str]:
        out = []
        for n in range(1000):
            ae = self.text(f"get_amap:{n},%s")
            if not ae:
                break
            if "*" not in ae and ae != self.v["source"]:
                out.append(ae)
        return out

    def mover(self, what: str) -> None:
        value = self.v[what]
        source, key = self.v["source"], self.v["key"]
        self.begin(f"send {what}")
        self.table(f"Send {what}: {value}", ["Source", "Destination"])
        for ae in self.destinations():
            pairs = [(what, value)] + ([("study", self.v["study"])] if what == "series" else [])
            link = self.a(ae, "move" + what, *pairs, ("source", source), ("dest", ae))
            self.emit(f"<tr><td>{esc(source)}<td>{link}</tr>\n")
        if source == "(local)":
            self.emit(f"<tr><td>(local)<td>{self.a('Zip file', 'zip' + what, (what, value), ('dum', '.zip'))}</tr>\n")
        section = "mark" + what
        if self.has_page(section) and key:
            link = self.a(self.ini_get(section, "caption", "mark"), section, (what, value), ("source", source),
                          ("key", key))
            self.emit(f"<tr><td>{esc(source)}<td>{link}</tr>\n")
        self.emit("</table>\n")
        self.cart()
        self.end()

    def page_studymover(self) -> None:
        self.mover("study")

    def page_seriesmover(self) -> None:
        self.mover("series")

    def done(self, heading: str, command: str, what: str) -> None:
        self.begin(heading)
        reply = self.text(command)
        self.emit(f"<p>{esc(command)}<br>\n{esc(reply)}</p>\n<p>Done {esc(what)}</p>\n")
        self.end()

    def page_movestudy(self) -> None:
        v = self.v
        self.done("move study", f"movestudy:{v['source']},{v['dest']},{v['study']}", v["study"])

    def page_moveseries(self) -> None:
        v = self.v
        command = f"moveseries:{v['source']},{v['dest']},{v['series']}"
        if v["study"]:
            command += "," + v["study"].rpartition(":")[2]
        self.done("move series", command, v["series"])

    def uploaded(self, heading: str, command: str) -> None:
        self.begin(heading, no_cache=True)
        if not self.upload:
            self.emit("<p class=error>No file was uploaded.</p>\n")
            self.end()
            return
        try:
            with open(self.upload, "rb") as f:
                data = f.read()
        except OSError as exc:
            self.emit(f"<p class=error>{esc(exc)}</p>\n")
            self.end()
            return
        reply = self.ask(command, upload=data)
        answer = (reply or b"").decode("latin-1").strip()
        self.emit(f"<p>Uploaded and processed file: {esc(os.path.basename(self.upload))}"
                  + (f" ({esc(answer)})" if answer else "") + "</p>\n")
        self.end()

    def page_addlocalfile(self) -> None:
        self.uploaded("upload", f"addimagefile:{self.upload}")

    def page_attachfile(self) -> None:
        self.uploaded("upload", f"attachfile:{self.upload},{self.v['script']}")

    def deleter(self, what: str) -> None:
        value = self.v[what].replace(" ", "%20")
        self.begin(f"delete {what}")
        self.emit(f"<p>Delete {what}: {esc(value)}</p>\n" + self.form_start("delete" + what)
                  + self.hidden(what, self.v[what]) + f"<input type=submit value=\"Delete the {what}\"></form>\n")
        self.end()

    def page_studydeleter(self) -> None:
        self.deleter("study")

    def page_seriesdeleter(self) -> None:
        self.deleter("series")

    def page_deletestudy(self) -> None:
        self.done("delete study", f"deletestudy:{self.v['study']}", self.v["study"])

    def page_deleteseries(self) -> None:
        self.done("delete series", f"deleteseries:{self.v['series']}", self.v["series"])

    # -- worklist and record editing ---------------------------------------------------------------
    def page_queryworklist(self) -> None:
        self.begin("worklist", no_cache=True)
        which = "selected worklist entries" if self.v["query"] else "all worklist entries (not all fields shown)"
        heads = ["AccessionN", "Patient ID", "Name", "Birth date", "Sex", "Physician", "Description", "Modality",
                 "Date", "Time", ""]
        self.table(f"List of {which}", heads)
        for row in self.rows("query:DICOMWorkList|AccessionN,PatientID,PatientNam,PatientBir,PatientSex,ReqPhysici,"
                             "ReqProcDes,Modality,StartDate,StartTime|" + self.where() + "|{fmt}", 10):
            cond = ("query", f"AccessionN = '{row[0]}'")
            self.emit(f"<tr><td>{self.a(row[0], 'editrecord', ('db', 'DICOMWorkList'), cond)}"
                      + "".join(f"<td>{esc(v)}" for v in row[1:])
                      + f"<td>{self.a('Delete', 'deleterecord', ('db', 'DICOMWorkList'), cond)}</tr>\n")
        self.emit("</table>\n<p>" + self.a("Add worklist entry", "addrecord", ("db", "DICOMWorkList")) + "</p>\n")
        self.end()

    def table_level(self) -> str:
        return DB_TABLES.get(self.v["db"].lower(), "WORKLIST")

    def columns(self) -> list[str]:
        """The SQL columns of the ``db`` table (``get_sqldef:``), sequences left out."""
        out = []
        for n in range(1000):
            line = self.text(f"get_sqldef:{self.table_level()},{n}")
            if not line:
                break
            parts = line.replace(",", " ").split()       # group, element, column, length, type, kind
            if len(parts) >= 5 and parts[2].strip("-") and "sequence" not in line.lower():
                out.append(parts[2])
        return out

    def record_form(self, heading: str, values: list[str] | None) -> None:
        db = self.v["db"]
        self.begin(heading, no_cache=values is not None)
        columns = self.columns()
        if not columns:
            self.emit("<p class=error>The server has no definition of this table (dicom.sql).</p>\n")
            self.end()
            return
        self.emit(self.form_start(None if self.read_only else "saverecord") + self.hidden("db", db)
                  + (self.hidden("query", self.v["query"]) if values is not None else ""))
        self.table(f"{'Edit' if values is not None else 'Add'} {db} entry", ["Field", "Value"])
        if values is not None:
            found = self.rows(f"query2:{db}|{','.join(columns)}|{self.v['query']}|{{fmt}}|1", len(columns))
            values = found[0] if found else [""] * len(columns)
        for n, column in enumerate(columns):
            value = values[n] if values else ""
            self.emit(f"<tr><td>{esc(column)}<td><input name=\"{esc(column)}\" type=text"
                      f" value=\"{esc(value)}\"></tr>\n")
        self.emit("</table>\n" + ("" if self.read_only else "<input type=submit value=Save>") + "</form>\n")
        self.end()

    def page_editrecord(self) -> None:
        self.record_form("edit record", [])

    def page_addrecord(self) -> None:
        self.record_form("add record", None)

    def writable(self) -> bool:
        if self.read_only or self.table_level() != "WORKLIST":
            self.emit("<p class=error>This table is read-only.</p>\n")
            self.end()
            return False
        return True

    def page_saverecord(self) -> None:
        db, query = self.v["db"], self.v["query"]
        self.begin("save record", no_cache=True)
        if not self.writable():
            return
        columns = self.columns()
        if query:
            self.text(f"deleterecord:{db},{query}")
            self.emit(f"<p>Updated/added {esc(db)} entry for {esc(query)}</p>\n")
        else:
            self.emit(f"<p>Added a new record in {esc(db)}</p>\n")
        values = ", ".join("'" + self.params.get(c, "").replace("'", "''") + "'" for c in columns)
        self.text(f"addrecord:{db}|{','.join(columns)}|{values}")
        self.end()

    def page_deleterecord(self) -> None:
        db, query = self.v["db"], self.v["query"]
        self.begin("delete record", no_cache=True)
        if not self.writable():
            return
        self.text(f"deleterecord:{db},{query}")
        self.emit(f"<p>Deleted the record of {esc(db)} where {esc(query)}</p>\n")
        self.end()

    # -- viewers and data ----------------------------------------------------------------------------
    def page_sliceviewer(self) -> None:
        v = self.v
        self.begin("slice")
        src = esc(self.url("slice", ("slice", v["slice"]), ("size", v["dsize"]), ("graphic", v["graphic"]),
                           ("lw", v["lw"])))
        height = f" height=\"{esc(v['size'])}\"" if v["size"] else ""
        self.emit(f"<a href=\"{esc(self.url('headerdump', ('slice', v['slice'])))}\">"
                  f"<img src=\"{src}\"{height} alt=\"{esc(v['slice'])}\"></a>\n")
        self.end()

    def page_headerdump(self) -> None:
        self.begin("header dump")
        self.emit("<p>Header dump of the DICOM object:</p>\n<pre>"
                  + text_esc(self.text(f"dump_header:{self.v['slice']}")) + "</pre>\n")
        self.end()

    def page_slice(self) -> None:
        v = self.v
        self.raw(self.ask(f"convert_to_{v['graphic']}:{v['slice']},{v['size']},cgi,{v['lw']}"))

    def page_dicom(self) -> None:
        v = self.v
        self.raw(self.ask(f"convert_to_dicom:{v['slice']},{v['dsize']},{v['compress']}"))

    def page_zipseries(self) -> None:
        pid, _, se = self.v["series"].rpartition(":")
        self.raw(self.ask(f"export:{pid},,{se},,cgi,call zip.cq"))

    def page_zipstudy(self) -> None:
        pid, _, st = self.v["study"].rpartition(":")
        self.raw(self.ask(f"export:{pid},{st},,,cgi,call zip.cq"))

    def series_pipe(self) -> str:
        pid, _, se = self.v["series"].rpartition(":")
        return f"{pid}|{se}"

    def page_imagelisturls(self) -> None:
        v = self.v
        self.raw(self.ask(f"imagelister:local|{self.series_pipe()}|:{self.script_address}?{self.extra}&mode=dicom"
                          f"&slice=%s:%s&dsize={v['dsize']}&compress={v['compress']}&dum=.dcm|cgi"))

    def page_imagelisthttp(self) -> None:
        self.raw(self.ask(f"imagelister:local|{self.series_pipe()}|@{self.mag0_address}/%0.0s%s*|cgi"))

    def page_imagelistfiles(self) -> None:
        self.raw(self.ask(f"imagelister:local|{self.series_pipe()}|%s|cgi"))

    def page_noviewer(self) -> None:
        self.begin("viewer")
        self.emit("<h3>No viewer is installed</h3>\n")
        self.end()

    def page_serversideviewer(self) -> None:
        v = self.v
        size = v["size"] or "80%"
        slices = [r[0] for r in self.rows(f"imagelister:local|{self.series_pipe()}|:%s:%s{END}", 1) if r[0]]
        frames = [r[0] for r in self.rows(f"imagelister:local|{self.series_pipe()}|$%d{END}", 1) if r[0]]
        self.begin("server side viewer")
        base = self.url("slice", ("dsize", v["dsize"]))
        graphics = [v["graphic"]] + [g for g in ("bmp", "gif", "jpg") if g != v["graphic"]]
        options = "".join(f"<option value=\"{esc(s)}\">{esc(s.rpartition(':')[2])}</option>" for s in slices)
        self.emit(f"<img id=view src=\"\" alt=\"\" style=\"height:{esc(size)}\"><form id=f>"
                  f"Slice: <select name=slice>{options}</select> <input type=button name=next value=\"&gt;\"> "
                  "Level: <input name=level size=4> Window: <input name=window size=4> "
                  "Frame: <input type=button name=pframe value=\"&lt;\"> <input name=frame size=3 value=0> "
                  "<input type=button name=nframe value=\"&gt;\"> Colour: <select name=graphic>"
                  + "".join(f"<option value={g}>{g}</option>" for g in graphics)
                  + "</select> <input type=button name=load value=load></form>\n<script>\n"
                  f"const base = {_js(base)}, frames = [{','.join(str(_int(n)) for n in frames)}];\n"
                  "const f = document.getElementById('f');\n"
                  "function load() {\n"
                  "  const n = frames[f.slice.selectedIndex] || 1, many = n > 1 ? 'visible' : 'hidden';\n"
                  "  for (const b of [f.frame, f.pframe, f.nframe]) b.style.visibility = many;\n"
                  "  document.getElementById('view').src = base + '&graphic=' + f.graphic.value + '&slice=' +\n"
                  "    encodeURIComponent(f.slice.value) + '&lw=' + (f.level.value || 0) + '/' + (f.window.value || 0)"
                  " + '/' + f.frame.value;\n}\n"
                  "f.next.onclick = () => { f.slice.selectedIndex = (f.slice.selectedIndex + 1) % f.slice.length;"
                  " load(); };\n"
                  "f.nframe.onclick = () => { const n = frames[f.slice.selectedIndex] || 1;"
                  " f.frame.value = (parseInt(f.frame.value, 10) + 1) % n; load(); };\n"
                  "f.pframe.onclick = () => { f.frame.value = Math.max(0, parseInt(f.frame.value, 10) - 1);"
                  " load(); };\n"
                  "for (const e of [f.slice, f.level, f.window, f.frame, f.graphic]) e.onchange = load;\n"
                  "f.load.onclick = load;\nload();\n</script>\n")
        self.end()


def _int(text: str) -> int:
    from ..config.keys import atoi
    return atoi(text)


def _js(text: str) -> str:
    import json
    return json.dumps(text).replace("<", "\\u003c")
