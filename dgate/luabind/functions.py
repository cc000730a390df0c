"""The global functions of a Conquest Lua state (``do_lua`` registrations;
conquest-lua-web.md §3, §6.2).

Return shapes follow the original: database rows and ``GetVR`` tables are 1-based,
DICOM arrays 0-based, failures return nothing (nil). Objects and arrays that functions
return are new and owned by the script.
"""
from __future__ import annotations

import hashlib
import os
import re
import struct
import subprocess
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset

from ..config.keys import atoi
from . import elements
from .context import RC_DESTROY, RC_REJECT, RC_RETRY
from .handles import Handle, datasets_of
from .methods import LuaCallError, _lua_list

if TYPE_CHECKING:
    from .runtime import LuaState


INTEGER_GLOBALS = """
StartTime TotalTime LoadTime ProcessTime SaveTime ImagesSent ImagesReceived ImagesSaved
ImagesForwarded ImagesExported ImagesCopied IncomingAssociations EchoRequest C_Find_PatientRoot
C_Move_PatientRootNKI C_Move_PatientRoot C_Get_PatientRoot C_Find_StudyRoot C_Move_StudyRootNKI
C_Move_StudyRoot C_Get_StudyRoot C_Find_PatientStudyOnly C_Find_ModalityWorkList
C_Move_PatientStudyOnlyNKI C_Move_PatientStudyOnly C_Get_PatientStudyOnly UnknownRequest
CreateBasicFilmSession DeleteBasicFilmSession ActionBasicFilmSession SetBasicFilmSession
CreateBasicFilmBox ActionBasicFilmBox SetBasicFilmBox DeleteBasicFilmBox SetBasicGrayScaleImageBox
SetBasicColorImageBox GuiRequest ImagesToGifFromGui ImagesToBmpFromGui ImagesToJpgFromGui
ImagesToDicomFromGui ExtractFromGui QueryFromGui DeleteImageFromGui DeletePatientFromGui
DeleteStudyFromGui DeleteStudiesFromGui DeleteSeriesFromGui MovePatientFromGui MoveStudyFromGui
MoveStudiesFromGui MoveSeriesFromGui AddedFileFromGui DumpHeaderFromGui ForwardFromGui GrabFromGui
DatabaseOpen DatabaseClose DatabaseQuery DatabaseAddRecord DatabaseDeleteRecord DatabaseNextRecord
DatabaseCreateTable DatabaseUpdateRecords QueryTime SkippedCachedUpdates UpdateDatabase
AddedDatabase NKIPrivateCompress NKIPrivateDecompress DownSizeImage DecompressJpeg CompressJpeg
DecompressJpeg2000 CompressJpeg2000 DecompressedRLE DePlaned DePaletted RecompressTime gpps gppstime
NoDicomCheck
""".split()
CONFIG_INTEGERS = """
DebugLevel ThreadCount OpenThreadCount EnableReadAheadThread WorkListMode StorageFailedErrorCode
FailHoldOff RetryDelay QueueSize ForwardCollectDelay CacheVirtualData gJpegQuality gUseOpenJpeg
FixKodak NumIndexing DoubleBackSlashToDB UseEscapeStringConstants EnableComputedFields
FileCompressMode
""".split()
STRING_GLOBALS = """
RootConfig BaseDir ConfigFile DicomDict AutoRoutePipe AutoRouteExec DroppedFileCompression
IncomingCompression ArchiveCompression TestMode StatusString DGATEVERSION
""".split()
# our status counters (dgate.store.ingest.counters) behind the original's names
COUNTER_NAMES = {"imagesreceived": "received", "imagessaved": "received", "imagessent": "sent",
                 "incomingassociations": "associations", "echorequest": "echo", "c_find_studyroot": "find",
                 "c_move_studyroot": "move", "gpps": "gpps",
                 # the codec's counters (dgate.codec.counters); it counts (de)compressions together
                 "deplaned": "planes", "depaletted": "palettes", "downsizeimage": "downsize",
                 "decompressedrle": "rle"}
_INT_LOWER = {n.lower(): n for n in INTEGER_GLOBALS + CONFIG_INTEGERS}
_STR_LOWER = {n.lower(): n for n in STRING_GLOBALS}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


class GlobalFunctions:
    def __init__(self, state: LuaState):
        self.state = state

    @property
    def services(self):
        return self.state.services

    @property
    def ctx(self):
        return self.state.ctx

    @property
    def dic(self):
        return self.state.dictionary

    def table(self) -> dict[str, Callable[..., Any]]:
        from . import archive, network, pixels
        fns: dict[str, Callable[..., Any]] = {
            "HTML": self.html, "CGI": self.cgi, "gpps": self.gpps, "get_amap": self.get_amap,
            "get_sqldef": self.get_sqldef, "dictionary": self.dictionary,
            "genuid": self.genuid, "changeuid": self.changeuid, "changeuidback": self.changeuidback,
            "crc": self.crc, "md5": self.md5,
            "destroy": self.verdict(RC_DESTROY), "reject": self.verdict(RC_REJECT), "retry": self.verdict(RC_RETRY),
            "script": self.script, "dbquery": self.dbquery, "sql": self.sql,
            "listoldestpatients": self.listoldestpatients,
            "newdicomobject": self.newdicomobject, "newdicomarray": self.newdicomarray,
            "deletedicomobject": self.deletedicomobject, "copydicom": self.copydicom,
            "compressdicom": self.compressdicom, "readdicom": self.readdicom, "writedicom": self.writedicom,
            "writeheader": self.writeheader, "resetdicom": self.resetdicom, "getvr": self.getvr,
            "setvr": self.setvr, "listitems": self.listitems, "serialize": self.serialize,
            "addimage": self.addimage, "ConvertBinaryData": self.convert_binary_data, "tempfile": self.tempfile,
            "mkdir": self.mkdir, "sleep": self.sleep, "tickcount": self.tickcount, "system": self.system,
            "heapinfo": self.heapinfo, "servercommand": self.servercommand,
        }
        for name in ("getpixel", "setpixel", "getrow", "setrow", "getcolumn", "setcolumn", "getimage", "setimage"):
            fns[name] = self.pixel_function(pixels, name)
        fns.update(archive.functions(self.state))
        fns.update(network.functions(self.state))
        return fns

    # -- output ------------------------------------------------------------------------
    def print_line(self, text: str) -> None:
        console = self.services.console
        if console is not None:
            console(text + "\n")
        else:
            self.services.logs.operator.printf(text + "\n")

    def debug_line(self, text: str) -> None:
        self.services.logs.debug.printf(text + "\n")

    def html(self, fmt: Any = None, *args: Any) -> None:
        """``HTML(fmt, a1..a4)``: printf with string arguments, plus a newline."""
        if fmt is None:
            return
        self.services.html_out(c_format(str(fmt), [("" if a is None else str(a)) for a in args[:4]]) + "\n")
        return

    def cgi(self, name: Any = None, default: Any = None) -> str:
        values = self.services.cgi
        if name is None:
            return values.get("", "")
        value = values.get(str(name))
        if value is None:
            return "" if default is None else str(default)
        return value

    # -- configuration ---------------------------------------------------------------
    def gpps(self, section: Any = None, key: Any = None, default: Any = None) -> str | None:
        """``gpps(section, key, default)``; ``gpps(key)`` reads the root section (the
        original crashes on that form)."""
        config = self.services.config
        if section is None:
            return None
        if key is None:
            key, section = section, None
        if config is None:
            return "" if default is None else str(default)
        config.ini.refresh()
        root = config.ini.root_section if section is None else str(section)
        value = config.ini.get(root, str(key))
        if value is None:
            return "" if default is None else str(default)
        return value

    def get_amap(self, index: Any = None):
        config = self.services.config
        if config is None or index is None:
            return None
        entries = config.amap.entries
        number = int(index)
        if not 0 <= number < len(entries):
            return None
        e = entries[number]
        return (e.ae, e.host, e.port, e.compression)

    def get_sqldef(self, table: Any = None, index: Any = None):
        config = self.services.config
        if config is None or table is None or index is None:
            return None
        levels = ("patient", "study", "series", "image", "worklist")
        number = int(table)
        if not 0 <= number < len(levels):
            return None
        entries = config.kfactor.table(levels[number]) if hasattr(config.kfactor, "table") else None
        if entries is None:
            entries = getattr(config.kfactor, levels[number], None)
        if entries is None:
            return None
        entries = list(entries)
        i = int(index)
        if not 0 <= i < len(entries):
            return None
        e = entries[i]
        return (e.group, e.element, e.column, e.length, e.sql_type, e.dicom_type)

    def dictionary(self, first: Any = None, second: Any = None):
        if isinstance(first, (int, float)) and second is not None:
            entry = self.dic.by_tag((int(first) << 16) | int(second))
            return entry.keyword if entry is not None and entry.keyword else None
        if isinstance(first, str):
            tag = elements.tag_of(first, self.dic)
            if tag is None:
                return None
            return (tag >> 16, tag & 0xFFFF)
        return None

    # -- UIDs and hashes ---------------------------------------------------------------
    def _prefix(self) -> str:
        settings = self.services.settings
        return settings.str("UIDPrefix") if settings is not None else "1.2.826.0.1.3680043.2.135.1066"

    def genuid(self) -> str:
        from ..uids import gen_uid
        return gen_uid(self._prefix())

    def changeuid(self, uid: Any = None, to: Any = None, stage: Any = None, kind: Any = None) -> str | None:
        """``changeuid(uid)``, ``(uid, to)`` forced mapping, ``(uid, to, stage [, type])``
        (``to`` nil or empty: a new UID; stage ``#name``: MD5-based, no table)."""
        if uid is None:
            return None
        old = str(uid)
        stage_text = "" if stage is None else str(stage)
        mod_type = "lua" if kind is None else str(kind)
        try:
            db = self.services.database()
            if to is not None and str(to) != "":
                return force_uid_mapping(db, old, str(to), stage_text, mod_type)
            return db.change_uid(old, mod_type, stage_text)
        except Exception as exc:
            self.services.logs.operator.printf(f"***changeuid failed: {exc}\n")
            return None

    def changeuidback(self, uid: Any = None, stage: Any = None, kind: Any = None) -> str | None:
        if uid is None:
            return None
        try:
            return self.services.database().change_uid_back(str(uid), "" if stage is None else str(stage))
        except Exception as exc:
            self.services.logs.operator.printf(f"***changeuidback failed: {exc}\n")
            return None

    @staticmethod
    def crc(text: Any = None) -> str | None:
        """``ComputeCRC``: CRC-32 table, initial value 0, no final XOR, as decimal."""
        if text is None:
            return None
        data = str(text).encode("latin-1", "replace")
        return str(zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF)

    @staticmethod
    def md5(text: Any = None) -> str | None:
        if text is None:
            return None
        return hashlib.md5(str(text).encode("latin-1", "replace")).hexdigest()

    # -- verdicts and the converter bridge -------------------------------------------
    def verdict(self, rc: int) -> Callable[[], None]:
        def set_rc(*_args: Any) -> None:
            self.ctx.rc = rc
        return set_rc

    def script(self, first: Any = None, second: Any = None) -> None:
        """``script(cmd)`` on Data or ``script(obj, cmd)``: a converter statement."""
        if isinstance(first, Handle):
            target, command = first.ds, second
        else:
            target, command = self.state.data.ds, first
        if target is None or command is None:
            return
        self.run_script(target, str(command))
        return

    def run_script(self, ds: Dataset, command: str) -> None:
        """The verdict becomes the converter line's rc (``luascript``: ``sd->rc = …``)."""
        from .bridge import run_statements
        rc = run_statements(self.state, command, ds)
        if rc is not None:
            self.ctx.rc = rc

    def store_copy(self, ds: Dataset) -> None:
        from .archive import store_dataset
        store_dataset(self.state, ds)

    def addimage(self, obj: Any = None) -> None:
        for ds in datasets_of(obj)[:1]:
            self.store_copy(ds)

    # -- database ----------------------------------------------------------------------
    def dbquery(self, table: Any = None, fields: Any = None, where: Any = None, sort: Any = None):
        """``dbquery(table, fields, where [, sort])``: 1-based rows of 1-based strings."""
        if table is None or fields is None:
            return None
        table, fields = str(table), str(fields)
        where = "" if where is None else str(where)
        sort = "" if sort is None else str(sort)
        if not _IDENT.match(table) or any(";" in part for part in _outside_quotes(fields, where, sort)):
            self.services.logs.operator.printf(f"***dbquery refused: not a single query on {table}\n")
            return None
        sql = f"SELECT {fields} FROM {table}"
        if where:
            sql += f" WHERE {where}"
        if sort:
            sql += f" ORDER BY {sort}"
        try:
            rows = self.services.database().driver.query(sql)
        except Exception as exc:
            self.services.logs.operator.printf(f"***dbquery failed: {exc}\n")
            return None
        out = []
        for row in rows:
            out.append(self.state.table([_db_text(v) for v in list(row)[:48]]))
        return self.state.table(out)

    def sql(self, statement: Any = None):
        """``sql(statement)``: 1 on success, nothing on failure; one statement only."""
        if statement is None:
            return None
        text = str(statement).strip()
        body = text.removesuffix(";")
        if any(";" in part for part in _outside_quotes(body)):
            self.services.logs.operator.printf("***sql refused: more than one statement\n")
            return None
        try:
            self.services.database().driver.execute(body)
        except Exception as exc:
            self.services.logs.operator.printf(f"***sql failed: {exc}\n")
            return None
        return 1

    def listoldestpatients(self, maximum: Any = None, device: Any = None, sort: Any = None):
        """Patient IDs by ascending newest study value (``sort`` column, default
        AccessTime), optionally only those with images on ``device``; max < 0: newest first."""
        try:
            db = self.services.database()
        except Exception:
            return None
        count = int(maximum or 0)
        column = str(sort) if sort else "AccessTime"
        if not _IDENT.match(column):
            return self.state.table([])
        study = db.schema.study
        pat = study.patient_column() if hasattr(study, "patient_column") else None
        pat_column = pat.column if pat is not None else "PatientID"
        try:
            rows = db.driver.query(f"SELECT {pat_column}, {column} FROM {study.name}")
        except Exception as exc:
            self.services.logs.operator.printf(f"***listoldestpatients failed: {exc}\n")
            return None
        newest: dict[str, str] = {}
        for patid, value in rows:
            key = _db_text(patid)
            text = _db_text(value)
            if key not in newest or text > newest[key]:
                newest[key] = text
        ordered = sorted(newest.items(), key=lambda kv: (kv[1], kv[0]), reverse=count < 0)
        result: list[str] = []
        image = db.schema.image
        ipat = image.patient_column()
        p = db.driver.text_param
        for patid, _value in ordered:
            if len(result) >= abs(count):
                break
            if device:
                sql = f"SELECT DeviceName FROM {image.name} WHERE DeviceName = {p}"
                params = [str(device)]
                if ipat is not None:
                    sql += f" AND {ipat.column} = {p}"
                    params.append(patid)
                if not db.driver.query(sql + " LIMIT 1", params):
                    continue
            result.append(patid)
        return self.state.table(result)

    # -- constructors and object functions ---------------------------------------------
    def newdicomobject(self, json: Any = None):
        return self.state.methods.new(Handle(), json)

    def newdicomarray(self):
        return self.state.wrap(Handle(items=[]))

    def deletedicomobject(self, obj: Any = None):
        if isinstance(obj, Handle):
            self.state.methods.free(obj)

    def copydicom(self, obj: Any = None, json: Any = None):
        return self.state.methods.copy(obj, json) if isinstance(obj, Handle) else None

    def compressdicom(self, obj: Any = None, mode: Any = None):
        return self.state.methods.compress(obj, mode) if isinstance(obj, Handle) else None

    def _obj_and(self, first: Any, rest: tuple) -> tuple[Handle, tuple]:
        if isinstance(first, Handle):
            return first, rest
        return self.state.data, (first, *rest)

    def readdicom(self, first: Any = None, *rest: Any):
        handle, args = self._obj_and(first, rest)
        try:
            return self.state.methods.read(handle, *args[:1])
        except LuaCallError:
            return None

    def writedicom(self, first: Any = None, *rest: Any):
        handle, args = self._obj_and(first, rest)
        return self.state.methods.write(handle, *args[:1])

    def writeheader(self, first: Any = None, *rest: Any):
        handle, args = self._obj_and(first, rest)
        return self.state.methods.dump(handle, *args[:1])

    def resetdicom(self, obj: Any = None):
        return self.state.methods.reset(obj if isinstance(obj, Handle) else self.state.data)

    def getvr(self, obj: Any = None, *args: Any):
        return self.state.methods.get_vr(obj, *args) if isinstance(obj, Handle) else None

    def setvr(self, obj: Any = None, *args: Any):
        return self.state.methods.set_vr(obj, *args) if isinstance(obj, Handle) else None

    def listitems(self, obj: Any = None):
        return self.state.methods.list_items(obj) if isinstance(obj, Handle) else None

    def serialize(self, obj: Any = None, *args: Any):
        return self.state.methods.serialize(obj, *args) if isinstance(obj, Handle) else None

    def pixel_function(self, module, name: str) -> Callable[..., Any]:
        target = {"getpixel": "get_pixel", "setpixel": "set_pixel", "getrow": "get_row", "setrow": "set_row",
                  "getcolumn": "get_column", "setcolumn": "set_column", "getimage": "get_image",
                  "setimage": "set_image"}[name]

        def fn(first: Any = None, *rest: Any):
            handle, args = self._obj_and(first, rest)
            if handle.ds is None:
                return None
            return getattr(module, target)(self.state, handle.ds, *args)
        return fn

    # -- utilities ---------------------------------------------------------------------
    def convert_binary_data(self, fmt: Any = None, data: Any = None):
        """``ConvertBinaryData("N*tL", data)``: string ↔ 1-based table; t = f, u or s."""
        if fmt is None or data is None:
            return None
        match = re.match(r"^(?:(\d+)\*)?([fus])(\d)$", str(fmt))
        if not match:
            return None
        kind, size = match.group(2), int(match.group(3))
        if isinstance(data, (str, bytes)):
            raw = data.encode("latin-1") if isinstance(data, str) else data
            count = int(match.group(1)) if match.group(1) else len(raw) // max(size, 1)
            values: list = []
            for i in range(min(count, len(raw) // max(size, 1))):
                chunk = raw[i * size:(i + 1) * size]
                if kind == "f":
                    values.append(struct.unpack("<f" if size == 4 else "<d", chunk)[0])
                elif kind == "u":
                    values.append(int.from_bytes(chunk, "little"))
                else:
                    values.append(chunk.decode("latin-1"))
            return self.state.table(values)
        items = _lua_list(data)
        out = bytearray()
        for item in items:
            if kind == "f":
                out += struct.pack("<f" if size == 4 else "<d", float(item))
            elif kind == "u":
                out += (int(item) & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            else:
                out += str(item).encode("latin-1")[:size].ljust(size, b"\0")
        return bytes(out).decode("latin-1")

    def tempfile(self, ext: Any = None) -> str:
        """``<TempDir or MAG0/printer_files>/<new UID><ext>`` (the folder is created)."""
        settings = self.services.settings
        folder = ""
        if settings is not None:
            folder = settings.str("TempDir")
            if not folder:
                from ..store.devices import devices
                mags = devices(settings, "MAG")
                if mags and mags[0].root not in ("", "NULL"):
                    folder = os.path.join(mags[0].root, "printer_files")
        if not folder:
            import tempfile as tf
            folder = tf.gettempdir()
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, self.genuid() + ("" if ext is None else str(ext)))

    @staticmethod
    def mkdir(path: Any = None) -> None:
        if path:
            os.makedirs(str(path), exist_ok=True)

    @staticmethod
    def sleep(ms: Any = None) -> None:
        if ms:
            time.sleep(max(0.0, float(ms)) / 1000.0)

    @staticmethod
    def tickcount() -> int:
        return int(time.time()) * 1000

    @staticmethod
    def system(command: Any = None) -> int:
        if command is None:
            return -1
        return subprocess.call(str(command), shell=True)

    @staticmethod
    def heapinfo() -> str:
        return "not available"

    def servercommand(self, command: Any = None, mode: Any = None):
        """``servercommand(cmd [, mode])`` over a new association to our server (§6)."""
        if command is None:
            return ()
        from ..net.control import server_command
        services = self.services
        text = str(command)
        mode_text = "" if mode is None else str(mode)
        stdout = None
        if mode_text in ("cgi", "cgibinary", "cgihtml"):
            stdout = _Writer(services.html_out)
        try:
            reply = server_command(text, mode_text, host=services.server_host, port=services.port,
                                   ae=services.ae, stdout=stdout)
        except OSError as exc:
            services.logs.operator.printf(f"***servercommand failed: {exc}\n")
            return ()
        if reply is None:
            return ()           # nothing, not nil: as the original (tostring(servercommand(..)) fails)
        return reply.decode("latin-1")

    # -- Global and Association ----------------------------------------------------------
    def global_get(self, key: Any) -> Any:
        if not isinstance(key, str):
            return None
        lower = key.lower()
        services = self.services
        if lower in _INT_LOWER:
            name = _INT_LOWER[lower]
            if name in CONFIG_INTEGERS:
                return self._config_int(name)
            from ..store.ingest import counters
            if lower == "recompresstime":
                return counters.get("compress_ms") // 1000          # seconds, as the original
            return counters.get(COUNTER_NAMES.get(lower, lower))
        if lower in _STR_LOWER:
            return self._string_global(_STR_LOWER[lower])
        if services.config is None:
            return None
        services.config.ini.refresh()
        value = services.config.ini.get(services.config.ini.root_section, key)
        return value if value else None

    def _config_int(self, name: str) -> int:
        settings = self.services.settings
        if settings is None:
            return 0
        if name in _known_keys():
            return settings.int(name)
        config = self.services.config
        value = config.ini.get(config.ini.root_section, name) if config is not None else None
        return atoi(value or "0")

    def _string_global(self, name: str) -> str:
        services = self.services
        config = services.config
        if name == "DGATEVERSION":
            from ..version import DGATE_VERSION
            return DGATE_VERSION
        if name == "StatusString":
            return services.status_string
        if config is None:
            return ""
        if name == "BaseDir":
            return self.state.base_dir()
        if name == "RootConfig":
            return config.ini.root_section
        if name == "ConfigFile":
            return str(config.ini_path)
        if name == "DicomDict":
            return str(config.settings.path("Dictionary"))
        value = config.ini.get(config.ini.root_section, name)
        return value or ""

    def global_set(self, key: Any, value: Any) -> None:
        """``Global.X = v``: an existing dicom.ini key is changed with ``put_param`` and
        ``read_ini`` sent to the server, as the original does."""
        config = self.services.config
        if not isinstance(key, str) or config is None:
            return
        config.ini.refresh()
        if not config.ini.get(config.ini.root_section, key):
            return
        text = "" if value is None else elements.lua_number_text(value) if not isinstance(value, str) else value
        writer = self.services.put_param
        if writer is not None:
            writer(key, text)
            return
        from ..net.control import ControlError, send_command
        try:
            for command in (f"put_param:{key},{text}", "read_ini:"):
                send_command(command, host=self.services.server_host, port=self.services.port,
                             ae=self.services.ae, console_text=None)
        except ControlError:
            pass
        return

    def association(self, key: Any) -> Any:
        ctx = self.ctx
        if key == "Calling":
            return ctx.calling.rstrip(" ")
        if key == "Called":
            return ctx.called.rstrip(" ")
        if key == "Thread":
            return ctx.thread
        if key == "ConnectedIP":
            return ctx.connected_ip or "0.0.0.0"
        return None


class _Writer:
    """A binary stream for ``servercommand``'s cgi modes."""

    def __init__(self, out: Callable[[str], None]):
        self.out = out

    def write(self, data: bytes) -> None:
        self.out(data.decode("latin-1"))

    def flush(self) -> None:
        pass


def _known_keys() -> set[str]:
    from ..config.keys import ROOT_KEYS
    return {k.name for k in ROOT_KEYS}


def _db_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin-1")[:255]
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)[:255]


def _outside_quotes(*texts: str) -> list[str]:
    """The parts of SQL fragments that are outside '...' and "..." literals."""
    parts = []
    for text in texts:
        out, quote = [], ""
        for ch in text:
            if quote:
                if ch == quote:
                    quote = ""
                continue
            if ch in "'\"":
                quote = ch
                continue
            out.append(ch)
        parts.append("".join(out))
    return parts


def force_uid_mapping(db, old: str, new: str, stage: str, mod_type: str) -> str:
    """``changeuid(uid, to, stage)``: record old→new for the stage (once) and return new."""
    p = db.driver.text_param
    stage_value = stage or "(empty)"
    rows = db.driver.query(f"SELECT NewUID FROM UIDMODS WHERE OldUID = {p} AND NewUID = {p} AND Stage = {p}",
                           [old, new, stage_value])
    if not rows:
        db.driver.execute(f"INSERT INTO UIDMODS (MODTime, OldUID, MODType, NewUID, Stage, Annotation) "
                          f"VALUES ({db.driver.int_param}, {p}, {p}, {p}, {p}, {p})",
                          [int(time.time()), old, mod_type, new, stage_value, ""])
    return new


_C_SPEC = re.compile(r"%([-+ #0]*)(\d+|\*)?(?:\.(\d+))?([hlLqjzt]*)([diouxXeEfgGcsp%])")


def c_format(fmt: str, args: list[str]) -> str:
    """C ``sprintf`` with string arguments (``HTML``): ``%s`` takes the next argument,
    numeric conversions its ``atoi``/``atof``, ``%%`` a percent sign."""
    values = iter(args)

    def repl(match: re.Match) -> str:
        flags, width, precision, _length, conv = match.groups()
        if conv == "%":
            return "%"
        value = next(values, "")
        spec = "%" + flags + (width or "") + (f".{precision}" if precision else "")
        try:
            if conv == "s":
                return (spec + "s") % value
            if conv in "dioxXuc":
                number = atoi(value)
                return (spec + ("d" if conv in "iu" else conv)) % number if conv != "c" else chr(number & 0xFF)
            return (spec + conv) % float(value or 0)
        except (ValueError, TypeError):
            return value
    return _C_SPEC.sub(repl, fmt)


__all__ = ["GlobalFunctions", "c_format", "force_uid_mapping"]
