"""Database, deletion, regeneration, file and listing commands
(conquest-protocol.md §5.2, §5.3, §5.7 dump/count)."""
from __future__ import annotations

import os
from pathlib import Path

from pydicom.dataset import Dataset

from ..codec.storage import read_object
from ..config import ConfigError
from ..config.keys import atoi
from ..db import DatabaseError
from ..hl7 import plugin as _hl7_files  # noqa: F401  (addimagefile of a *.hl7 file: the worklist)
from ..store.devices import locate
from ..store.dropped import add_image_file
from ..store.dump import DumpError, dump, dump_file
from ..store.formats import BadObject, object_file, uids_of_file
from ..store.ingest import Ingest, StoreFailed
from ..store.reader import has_nki
from ..store.regen import RegenSummary, regen_devices, regen_folder, regen_one_file
from ..store.removal import remove_from_pacs
from . import command
from .cformat import cformat
from .context import CommandContext, deliver, split_patient
from .policy import printable


# -- objects by the LoadForGUI syntax ------------------------------------------------------------
def load_for_gui(ctx: CommandContext, spec: str) -> Dataset | None:
    """``patid|sop`` (also ``?``, ``*``, ``:``), ``study\\series\\sop`` or a file path."""
    path = locate_object(ctx, spec)
    if path is None:
        return None
    try:
        return read_object(path)          # NKI pixel data expanded, as every reader sees it
    except (OSError, BadObject) as exc:
        ctx.logs.operator.printf(f"***Could not load {path}: {exc}\n")
        return None


def locate_object(ctx: CommandContext, spec: str) -> Path | None:
    for sep in "|?*:":
        pat, found, sop = spec.partition(sep)
        if found and not sop.startswith("\\"):
            stored = ctx.db().get_file(sop, pat or None)
            if stored is None:
                return None
            path = locate(ctx.settings, stored.device, stored.object_file)
            if path is None:
                ctx.logs.operator.printf(f"***GUI could not find file:{stored.object_file}\n")
            return path
    if spec.count("\\") == 2 and not os.path.exists(spec):
        _study, _series, sop = spec.split("\\")
        stored = ctx.db().get_file(sop)
        return locate(ctx.settings, stored.device, stored.object_file) if stored else None
    return Path(spec) if os.path.isfile(spec) else None


@command("dump_header")
def dump_header(ctx: CommandContext, args: str) -> bytes | None:
    """The header dump of an object as stored on disk (§5.8), through the ``out`` convention."""
    spec, _, out = args.partition(",")
    path = locate_object(ctx, spec)
    if path is None:
        return None
    try:
        dictionary = ctx.config.dictionary
    except ConfigError:
        dictionary = None        # the original then knows no VR: every element shows as UN
    try:
        if has_nki(object_file(path)):      # readers see the NKI pixel data expanded
            text = dump(read_object(path), dictionary)
        else:
            text = dump_file(path, dictionary)
    except (OSError, BadObject, DumpError) as exc:
        ctx.logs.operator.printf(f"***dump_header: cannot load {path}: {exc}\n")
        return None
    return deliver(text, out, pre=True)


@command("count_frames")
def count_frames(ctx: CommandContext, args: str) -> str | None:
    ds = load_for_gui(ctx, args)
    if ds is None:
        return None
    return str(atoi(str(ds.get("NumberOfFrames", "0") or "0")))


# -- deletion -------------------------------------------------------------------------------------
@command("deletepatient")
def deletepatient(ctx: CommandContext, args: str) -> None:
    if args:
        ctx.logs.operator.printf(f"Deleting patient: {printable(args)}\n")
        remove_from_pacs(ctx.db(), ctx.settings, False, patient_id=args)


@command("deletestudies")
def deletestudies(ctx: CommandContext, args: str) -> None:
    if args:
        ctx.logs.operator.printf(f"Deleting studies on date: {printable(args)}\n")
        remove_from_pacs(ctx.db(), ctx.settings, False, study_date=args)


def _delete_level(label: str, key: str):
    """``delete<level>:[patid:]uid`` for study, series and image."""
    def handler(ctx: CommandContext, args: str) -> None:
        patid, uid = split_patient(args)
        if uid:
            ctx.logs.operator.printf(f"Deleting {label} from: {printable(args)}\n")
            remove_from_pacs(ctx.db(), ctx.settings, False, patient_id=patid, **{key: uid})
    return handler


command("deletestudy")(_delete_level("study", "study_uid"))
command("deleteseries")(_delete_level("series", "series_uid"))
command("deleteimage")(_delete_level("image", "sop_uid"))


@command("deletesopfromdb")
def deletesopfromdb(ctx: CommandContext, args: str) -> None:
    patid, study, series, sop = (args.split(",") + ["", "", "", ""])[:4]
    if sop:
        remove_from_pacs(ctx.db(), ctx.settings, True, patient_id=patid, study_uid=study,
                         series_uid=series, sop_uid=sop)


def _delete_file(keep_files: bool):
    """``deleteimagefromdb:file`` (index only) and ``deleteimagefile:file`` (also the file)."""
    def handler(ctx: CommandContext, args: str) -> None:
        try:
            sop, patid = uids_of_file(args)
        except (OSError, BadObject):
            ctx.logs.operator.printf(f"***[DeleteImageFile] {args} -FAILED: Error on Load\n")
            return
        ctx.logs.operator.printf(f"Deleting database entry for image: {printable(args)}\n")
        remove_from_pacs(ctx.db(), ctx.settings, keep_files, sop_uid=sop, patient_id=patid)
    return handler


command("deleteimagefromdb")(_delete_file(True))
command("deleteimagefile")(_delete_file(False))


# -- regeneration ---------------------------------------------------------------------------------
def _summary(ctx: CommandContext, summary: RegenSummary, done: str) -> None:
    ctx.logs.operator.printf(summary.line() + "\n" + done + "\n")


@command("initializetables")
def initializetables(ctx: CommandContext, args: str) -> None:
    ctx.db().initialize_tables(atoi(args), echo=ctx.logs.operator.printf)


@command("regen")
def regen(ctx: CommandContext, args: str) -> None:
    db = ctx.db()
    db.initialize_tables(0, echo=ctx.logs.operator.printf)
    _summary(ctx, regen_devices(db, progress=ctx.logs.operator.printf,
                                announce=ctx.logs.operator.printf), "Regeneration Complete")


@command("regendevice")
def regendevice(ctx: CommandContext, args: str) -> None:
    _summary(ctx, regen_devices(ctx.db(), only=args.strip(), progress=ctx.logs.operator.printf,
                                announce=ctx.logs.operator.printf), "Regeneration Complete")


@command("regendir")
def regendir(ctx: CommandContext, args: str) -> None:
    device, _, directory = args.partition(",")
    summary = regen_folder(ctx.db(), device.strip() or "MAG0", directory, progress=ctx.logs.operator.printf)
    if summary is not None:
        _summary(ctx, summary, "Regeneration folders Complete")


@command("regenfile")
def regenfile(ctx: CommandContext, args: str) -> None:
    regen_one_file(ctx.db(), args)


# -- adding files ----------------------------------------------------------------------------------
def _split_file_and_patid(args: str) -> tuple[str, str]:
    """``CommaInFilenameWorkAround``: a comma belongs to the name if .dcm/.v2/.hl7/.gz follows."""
    pos = 0
    while True:
        comma = args.find(",", pos)
        if comma < 0:
            return args, ""
        rest = args[comma + 1:].lower()
        if any(ext in rest for ext in (".dcm", ".v2", ".hl7", ".gz")):
            pos = comma + 1
            continue
        return args[:comma], args[comma + 1:]


@command("addimagefile", "addlocalfile")
def addimagefile(ctx: CommandContext, args: str) -> str:
    """Add a server-side file, or the uploaded bytes (9999,0402); reply ``0`` or ``1``."""
    filename, patid = _split_file_and_patid(args)
    ingest = Ingest(ctx.config, ctx.logs)
    try:
        with ctx.file_or_upload(filename, "", "upload") as path:
            add_image_file(path, ingest, ctx.db(), ctx.own_ae, patid)
        return "0"
    except (StoreFailed, DatabaseError) as exc:
        ctx.logs.operator.printf(f"{exc}\n")
        return "1"


@command("loadanddeletedir")
def loadanddeletedir(ctx: CommandContext, args: str) -> None:
    folder, _, patid = args.partition(",")
    ingest = Ingest(ctx.config, ctx.logs)
    for current, _dirs, files in os.walk(folder, topdown=False):
        for name in sorted(files):
            path = Path(current) / name
            try:
                add_image_file(path, ingest, ctx.db(), ctx.own_ae, patid)
                path.unlink()
            except (StoreFailed, DatabaseError) as exc:
                ctx.logs.operator.printf(f"{exc}\n")


# -- SQL passthrough, made safe (query, query2, addrecord, deleterecord) ------------------------------
def _query_rows(ctx: CommandContext, table: str, fields: str, where: str) -> list[tuple] | None:
    from ..db.sqlfilter import UnsafeSQL, rebuild, table_list
    db = ctx.db()
    p = db.driver.text_param
    try:
        tables = table_list(table, db.schema)
        cols = rebuild(fields, db.schema, p) if fields.strip() else None
        cond = rebuild(where, db.schema, p) if where.strip() else None
    except UnsafeSQL as exc:
        ctx.logs.operator.printf(f"***query refused: {exc}\n")
        return None
    sql = f"SELECT {cols.sql if cols else '*'} FROM {tables}"
    params = list(cols.params) if cols else []
    if cond:
        sql += f" WHERE {cond.sql}"
        params += cond.params
    try:
        return db.driver.query(sql, params)
    except DatabaseError as exc:
        ctx.logs.operator.printf(f"***query failed: {exc}\n")
        return None


def _format_rows(rows: list[tuple], fmt: str) -> str:
    if not fmt:
        fmt = " ".join(["%s"] * (len(rows[0]) if rows else 1))
    star = fmt.endswith("*")
    body = fmt[:-1] if star else fmt + "\n"
    texts = [cformat(body, [("" if v is None else v) for v in row] or [""]) for row in rows]
    return "*".join(texts) if star else "".join(texts)


def _query_reply(ctx: CommandContext, rows: list[tuple] | None, fmt: str, out: str) -> bytes | str | None:
    if rows is None:
        return None
    text = _format_rows(rows, fmt)
    if out.strip() in ("", "binary", "cgi"):
        return deliver(text, out) if text else None
    deliver(text, out)
    return "0" if rows else "1"


@command("query")
def query(ctx: CommandContext, args: str) -> bytes | str | None:
    """``table|fields|where|fmt|out``: rows through a C format (bound parameters only)."""
    table, fields, where, fmt, out = (args.split("|", 4) + [""] * 5)[:5]
    return _query_reply(ctx, _query_rows(ctx, table, fields, where), fmt, out)


@command("query2")
def query2(ctx: CommandContext, args: str) -> bytes | str | None:
    """``table|fields|where|fmt|max|out``: as query, evenly sub-sampled to at most max rows."""
    table, fields, where, fmt, most, out = (args.split("|", 5) + [""] * 6)[:6]
    rows = _query_rows(ctx, table, fields, where)
    limit = atoi(most)
    if rows and limit > 0 and len(rows) > limit:
        step = -(-len(rows) // limit)
        rows = rows[::step]
    return _query_reply(ctx, rows, fmt, out)


@command("addrecord")
def addrecord(ctx: CommandContext, args: str) -> None:
    """``table|fields|values``: INSERT with the quoted values bound as parameters."""
    from ..db.sqlfilter import UnsafeSQL, rebuild, table_list
    table, fields, values = (args.split("|", 2) + ["", ""])[:3]
    db = ctx.db()
    try:
        name = table_list(table, db.schema)
        cols = rebuild(fields, db.schema, db.driver.text_param)
        vals = rebuild(values, db.schema, db.driver.text_param)
        if "," in name or cols.params or any(t.isalpha() for t in vals.sql.replace(db.driver.text_param, "").split()):
            raise UnsafeSQL("addrecord takes one table, column names and literal values")
        db.driver.execute(f"INSERT INTO {name} ({cols.sql}) VALUES ({vals.sql})", vals.params)
    except (UnsafeSQL, DatabaseError) as exc:
        ctx.logs.operator.printf(f"***addrecord refused: {exc}\n")


@command("deleterecord")
def deleterecord(ctx: CommandContext, args: str) -> None:
    """``table,where``: DELETE rows matching a validated condition."""
    from ..db.sqlfilter import UnsafeSQL, rebuild, table_list
    table, _, where = args.partition(",")
    db = ctx.db()
    try:
        name = table_list(table, db.schema)
        if not where.strip():
            raise UnsafeSQL("deleterecord needs a condition")
        cond = rebuild(where, db.schema, db.driver.text_param)
        db.driver.execute(f"DELETE FROM {name} WHERE {cond.sql}", cond.params)
    except (UnsafeSQL, DatabaseError) as exc:
        ctx.logs.operator.printf(f"***deleterecord refused: {exc}\n")


@command("packdbf", "indexdbf")
def packdbf(ctx: CommandContext, args: str) -> None:
    """Built-in dBase driver: remove deleted records and rebuild the indexes."""
    from ..db.dbase import DBaseDriver
    driver = ctx.db().driver
    if not isinstance(driver, DBaseDriver):
        ctx.logs.operator.printf("packdbf/indexdbf: the database is not a dBase folder\n")
        return
    driver.pack()
