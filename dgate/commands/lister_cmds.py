"""Finders and listers (conquest-protocol.md §5.2; ``PatientStudyFinder``, ``ImageFileLister``,
``SeriesUIDLister`` in the original), with the original's output rules.

Finders (``patientfinder``/``studyfinder``/``seriesfinder``/``imagefinder:server|str|fmt|out``)
run the original's queries in its order: the patient ID (``*str*``, or exact with ``=``; for
images ``=uid`` selects the series instead), the patient name (not for images), the study
date (study and series level, only for ``yyyy``, ``yyyymm``, ``yyyymmdd``, open or closed
ranges, and not with ``=``) and, for series with ``=uid``, the study UID. The merged rows are
sorted by their key (patient ID, study, series or SOP UID) as the original's
``RemoveQueryDuplicates`` sorts them: by the padded length of the value first, then
case-insensitively; rows with an equal key appear once. Each row prints ``fmt`` + ``\\n``
with its fields repeated (``%0.0s`` skips one).

Listers: ``fmt`` gets ``\\n`` appended unless it starts with ``$`` or ends with ``*``
(default ``%s*``); the image lister drops the trailing ``*`` on the last image only and
sorts on the image number; ``?fmt`` prints the number of rows. ``cgi`` as ``out`` adds the
``Content-type`` header even when nothing was found, as the original.
"""
from __future__ import annotations

from pydicom.dataset import Dataset

from ..config.keys import atoi
from ..store.devices import locate
from . import command
from .cformat import cformat
from .context import CommandContext, deliver

FINDER_FIELDS = {
    "PATIENT": ["PatientName", "PatientID"],
    "STUDY": ["StudyDate", "ModalitiesInStudy", "PatientName", "PatientID", "StudyInstanceUID"],
    "SERIES": ["StudyDate", "SeriesTime", "Modality", "PatientName", "PatientID", "StudyInstanceUID",
               "SeriesInstanceUID"],
    "IMAGE": ["SOPInstanceUID", "PatientName", "PatientID", "StudyInstanceUID", "SeriesInstanceUID",
              "InstanceNumber", "SliceLocation"],
}
PRIMARY_KEY = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID",
               "IMAGE": "SOPInstanceUID"}


def text_of(ds: Dataset, keyword: str) -> str:
    """A returned value as the original prints it: up to a NUL, one trailing space removed."""
    elem = ds.data_element(keyword) if keyword in ds else None
    value = None if elem is None else elem.value
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        text = "\\".join(str(v) for v in value)
    elif isinstance(value, bytes):
        text = value.decode("latin-1")
    else:
        text = str(value)
    text = text.split("\0", 1)[0]
    return text[:-1] if text.endswith(" ") else text


def study_date_range(text: str) -> str | None:
    """The study-date query the finders add for a search text, or None (``invalid``)."""
    def number(s: str) -> int:
        return atoi(s)
    n = len(text)
    if n == 4 and 1900 < number(text) < 2200:
        return f"{text}0101-{text}1231"
    if n == 6 and 190000 < number(text) < 220000:
        return f"{text}01-{text}31"
    if n == 8 and 19000000 < number(text) < 22000000:
        return text
    if n == 9 and 19000000 < number(text) < 22000000 and text[8] == "-":
        return text
    if n == 9 and 19000000 < number(text[1:]) < 22000000 and text[0] == "-":
        return text
    if n == 17 and 19000000 < number(text) < 22000000 and text[8] == "-" and 19000000 < number(text[9:]) < 22000000:
        return text
    return None


def finder_queries(level: str, text: str) -> list[dict[str, str]]:
    """The identifiers the original sends, in its order (values only; return keys are added)."""
    exact = text.startswith("=")
    pattern = text[1:] if exact else f"*{text}*"
    queries = []
    if level == "IMAGE":
        queries.append({"PatientID": "" if exact else pattern, "SeriesInstanceUID": text[1:] if exact else ""})
    else:
        queries.append({"PatientID": pattern})
        queries.append({"PatientName": pattern})
        if level in ("STUDY", "SERIES") and not exact:
            date = study_date_range(text)
            if date is not None:
                queries.append({"StudyDate": date})
        if level == "SERIES" and exact and len(text) > 8:
            queries.append({"StudyInstanceUID": text[1:]})
    return queries


def _sort_key(level: str, ds: Dataset) -> tuple[int, bytes]:
    """``SortPatient``/``SortStudy``/...: padded length first, then case-insensitive bytes."""
    raw = text_of(ds, PRIMARY_KEY[level]).encode("latin-1", "replace")
    if len(raw) % 2:
        raw += b" " if level == "PATIENT" else b"\0"
    return len(raw), raw.lower()


def merge_results(level: str, results: list[Dataset]) -> list[Dataset]:
    """``RemoveQueryDuplicates``: sort on the primary key, keep one row per key (the later)."""
    out: list[Dataset] = []
    last = None
    for ds in sorted(results, key=lambda d: _sort_key(level, d)):
        key = _sort_key(level, ds)
        if out and key == last:
            out[-1] = ds
        else:
            out.append(ds)
        last = key
    return out


def _finder(level: str):
    def handler(ctx: CommandContext, args: str) -> bytes | None:
        server, text, fmt, out = (args.split("|", 5) + ["", "", "", ""])[:4]
        fields = FINDER_FIELDS[level]
        fmt = (fmt or " ".join(["%s"] * (2 if level == "PATIENT" else 5 if level == "STUDY" else 7))) + "\n"
        results: list[Dataset] = []
        for keys in finder_queries(level, text):
            ident = Dataset()
            ident.QueryRetrieveLevel = level
            for name in fields:
                setattr(ident, name, keys.get(name, ""))
            results += query(ctx, server, level, ident)
        lines = [cformat(fmt, [text_of(ds, name) for name in fields] * 8) for ds in merge_results(level, results)]
        return deliver("".join(lines), out)
    return handler


def query(ctx: CommandContext, server: str, level: str, ident: Dataset) -> list[Dataset]:
    """C-FIND on the own database (``local``) or on an AE of acrnema.map."""
    if server.strip().lower() in ("", "local") or server.strip() == ctx.own_ae:
        return ctx.db().find(level, ident)
    from ..net import scu
    address = ctx.config.amap.lookup(server.strip())
    if address is None:
        ctx.logs.operator.printf(f"***finder: AE not found: {server}\n")
        return []
    model = "patient" if level == "PATIENT" else "study"
    try:
        return scu.find(ctx.own_ae, address, ident, model)
    except Exception as exc:     # any failure of the remote query is reported, not raised
        ctx.logs.operator.printf(f"***finder: query of {server} failed: {exc}\n")
        return []


for _level in FINDER_FIELDS:
    command(f"{_level.lower()}finder")(_finder(_level))


def lister_format(fmt: str) -> str:
    """Default ``%s*``; ``\\n`` appended unless the format starts with ``$`` or ends with ``*``."""
    fmt = fmt or "%s*"
    return fmt if fmt.startswith("$") or fmt.endswith("*") else fmt + "\n"


def _str(value) -> str:
    return "" if value is None else str(value)


def _image_rows(ctx: CommandContext, patid: str, series: str) -> list[tuple[str, str, str, str, str]]:
    """(object file, device, SOP UID, image number, frames) of the images, by image number."""
    db = ctx.db()
    im = db.schema.image
    ident = Dataset()
    ident.QueryRetrieveLevel = "IMAGE"
    ident.PatientID = patid
    ident.SeriesInstanceUID = series
    number, frames = im.by_tag(0x00200013), im.by_tag(0x00280008)
    columns = [f"{im.name}.ObjectFile", f"{im.name}.DeviceName", f"{im.name}.{im.key.column}",
               f"{im.name}.{(number or im.key).column}", f"{im.name}.{(frames or im.key).column}"]
    built = db.queries.build("IMAGE", ident, select=columns)
    rows: list[tuple[str, str, str, str, str]] = [
        (_str(o), _str(d), _str(s), _str(n), _str(f)) for o, d, s, n, f in db.driver.query(built.sql, built.params)]
    if number is None:
        rows = [(o, d, s, "", f) for o, d, s, _, f in rows]
    if frames is None:
        rows = [(o, d, s, n, "") for o, d, s, n, _ in rows]
    return sorted(rows, key=lambda r: atoi(r[3]))     # SortImageNumber (stable here)


@command("imagelister")
def imagelister(ctx: CommandContext, args: str) -> bytes | None:
    """Images of one series: full paths, ``#`` device and file, ``@`` with ``/``, ``:`` patid:sop,
    ``$`` frames, ``?`` the count (``ImageFileLister``)."""
    server, patid, series, fmt, out = (args.split("|", 5) + [""] * 5)[:5]
    fmt = lister_format(fmt)
    rows = _image_rows(ctx, patid, series)
    if fmt.startswith("?"):
        return deliver(cformat(fmt[1:], [len(rows)]), out)
    lines = []
    for i, (obj, device, sop, _number, frames) in enumerate(rows):
        path = locate(ctx.settings, device, obj)
        if path is None:
            continue
        if i == len(rows) - 1 and fmt.endswith("*"):
            fmt = fmt[:-1]
        if fmt.startswith(("#", "@")):
            name = obj.replace("\\", "/") if fmt[0] == "@" else obj
            lines.append(cformat(fmt[1:], [device, name, i, i + 1] * 3))
        elif fmt.startswith(":"):
            lines.append(cformat(fmt[1:], [patid.replace(" ", "%20"), sop, i, i + 1] * 3))
        elif fmt.startswith("$"):
            lines.append(cformat(fmt[1:], [atoi(frames)]))
        else:
            lines.append(cformat(fmt, [str(path), i, i + 1] * 3))
    return deliver("".join(lines), out)


@command("serieslister")
def serieslister(ctx: CommandContext, args: str) -> bytes | None:
    """Series UIDs of a study, through fmt with (uid, index) ×3 (``SeriesUIDLister``)."""
    server, patid, study, fmt, out = (args.split("|", 5) + [""] * 5)[:5]
    fmt = lister_format(fmt)
    ident = Dataset()
    ident.QueryRetrieveLevel = "SERIES"
    ident.PatientID = patid
    ident.StudyInstanceUID = study
    ident.SeriesInstanceUID = ""
    uids = [text_of(ds, "SeriesInstanceUID") for ds in ctx.db().find("SERIES", ident)]
    if fmt.startswith("?"):
        return deliver(cformat(fmt[1:], [len(uids)]), out)
    return deliver("".join(cformat(fmt, [uid, i] * 3) for i, uid in enumerate(uids)), out)
