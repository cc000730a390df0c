"""File names of stored objects: ``FileNameSyntax`` (``GenerateFileName``;
conquest-storage.md §6.4).

The name is relative to the device root; modes 0–12 and ``%`` patterns are those of
dgate 1.5.0e. Patient-derived parts are cleaned as the original does (``/ \\ ; > < | , .
space : ? * "`` become ``_``). The original does not clean UIDs and AE titles; we do
replace anything in them that could leave the storage folder (path separators, ``..``),
and the final name is checked to stay below the device root.
"""
from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable

from pydicom.dataset import Dataset

from ..config.keys import atoi
from ..db.values import element_bytes
from ..runtime.shm import FILE_COUNTER_AT, SharedSegment

_CLEAN = set('/\\;><|,. :?*"')
_UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}
KEEP_EXTENSION_MODES = {4, 8, 9, 10, 11, 12, 998}

_counter_lock = threading.Lock()
_counter = itertools.count()


class UnsafeFileName(ValueError):
    """A generated name would leave the storage folder."""


# ``FileNameSyntax = lua:<expression>``: the Lua capability registers the function that
# evaluates the expression (``lua_getstring``), called as namer(ds, expression, calling, called).
LuaNamer = Callable[[Dataset, str, str, str], "str | None"]
_lua_namer: LuaNamer | None = None


def set_lua_namer(namer: LuaNamer | None) -> None:
    """Install (or remove) the evaluator of ``lua:`` file names."""
    global _lua_namer
    _lua_namer = namer


_segment: SharedSegment | None = None


def attach(segment: SharedSegment | None) -> None:
    """Take the name counter from ``segment`` (hub and workers): without it two worker
    processes count alike and, in the same second, give two objects one name."""
    global _segment
    _segment = segment


def next_counter() -> int:
    """The 16-bit counter of the time-stamped names (``%counter``, modes 1–5)."""
    segment = _segment
    if segment is not None:
        return segment.fetch_add(FILE_COUNTER_AT) & 0xFFFF
    with _counter_lock:
        return next(_counter) & 0xFFFF


def clean(text: str) -> str:
    """``Cleanup``: unsafe characters to ``_``, cut at control bytes, max 65, no trailing ``_``."""
    out = []
    for ch in text:
        if ch in _CLEAN:
            out.append("_")
        elif ord(ch) < 33:
            break
        else:
            out.append(ch)
    result = "".join(out)[:65].rstrip("_")
    return result or "unknown"


def safe_uid(uid: str) -> str:
    """A UID as a path part: only digits and dots survive, no empty components."""
    text = re.sub(r"[^0-9.]", "_", uid)
    text = re.sub(r"\.{2,}", lambda m: "._" * (len(m.group()) - 1) + ".", text)
    return text.strip(".") or "unknown"


def safe_ae(ae: str) -> str:
    text = ae.rstrip(" \0")
    return re.sub(r"[/\\\0]", "_", text).replace("..", "__") or "unknown"


@dataclass
class NameInputs:
    """The values ``GenerateFileName`` reads from the object (max 64 characters each)."""

    name: str
    patient_id: str
    series: str
    image: str
    series_uid: str
    study_uid: str
    sop_uid: str
    study_id: str
    modality: str
    study_date: str
    study_desc: str
    image_id: str
    transfer_syntax: str

    @classmethod
    def from_dataset(cls, ds: Dataset) -> "NameInputs":
        def get(tag: int, strip_one: bool = False, uid: bool = False) -> str:
            raw = element_bytes(ds, tag)
            if raw is None:
                return "empty"
            text = raw.decode("latin-1")[:64]
            if uid:
                text = text.split("\0", 1)[0].rstrip(" ")
            if strip_one and text.endswith(" "):
                text = text[:-1]
            return text
        ts = ""
        meta = getattr(ds, "file_meta", None)
        if meta is not None and "TransferSyntaxUID" in meta:
            ts = str(meta.TransferSyntaxUID)
        return cls(get(0x00100010), get(0x00100020), get(0x00200011), get(0x00200013),
                   get(0x0020000E, uid=True), get(0x0020000D, uid=True), get(0x00080018, uid=True),
                   get(0x00200010, True), get(0x00080060, True), get(0x00080020, True),
                   get(0x00081030, True), get(0x00540400, True), ts)


def _mode(syntax: str) -> int:
    if syntax.lower().startswith("lua:"):
        return 998
    if "%" in syntax:
        return 999
    return atoi(syntax)


_PATTERN_VARIABLES = ("name", "id", "modality", "studyid", "studyuid", "seriesid", "seriesuid", "sopuid",
                      "imageid", "imagenum", "image", "series", "time", "date", "counter", "calledae",
                      "callingae", "studydate", "studydesc")
_DESCRIPTOR = re.compile(r"([0-9A-Fa-f]{4},[0-9A-Fa-f]{4})|([A-Za-z0-9_]+)")
_RANGE = re.compile(r"\[(\d+),(\d+)\]")


def _pattern(syntax: str, ds: Dataset, v: NameInputs, calling: str, called: str, now: float,
             counter: int) -> str:
    values = {
        "name": clean(v.name), "id": clean(v.patient_id), "modality": clean(v.modality),
        "studyid": clean(v.study_id), "studyuid": safe_uid(v.study_uid), "seriesid": clean(v.series),
        "seriesuid": safe_uid(v.series_uid), "sopuid": safe_uid(v.sop_uid), "imageid": clean(v.image_id),
        "imagenum": clean(v.image), "image": "%06d" % atoi(v.image), "series": "%04d" % atoi(v.series),
        "time": str(int(now)), "date": time.strftime("%Y%m%d", time.localtime(now)),
        "counter": "%04x" % counter, "calledae": safe_ae(called), "callingae": safe_ae(calling),
        "studydate": v.study_date.replace("/", "_"), "studydesc": clean(v.study_desc),
    }
    out = []
    i = 0
    while i < len(syntax):
        ch = syntax[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        rest = syntax[i + 1:]
        text = None
        for var in _PATTERN_VARIABLES:
            if rest.startswith(var):
                text = values[var]
                i += 1 + len(var)
                break
        if text is None and rest[:1] in ("v", "V"):
            match = _DESCRIPTOR.match(rest, 1)
            if match:
                text = _descriptor_value(ds, match)
                i += 1 + match.end()
        if text is None:
            i += 1        # unknown %x: drop the % and keep the text
            continue
        sub = _RANGE.match(syntax, i)
        if sub:
            a, b = int(sub.group(1)), int(sub.group(2))
            text = text[a:b + 1]
            i = sub.end()
        out.append(text)
    return "".join(out)


def _descriptor_value(ds: Dataset, match: re.Match) -> str:
    if match.group(1):
        group, element = (int(x, 16) for x in match.group(1).split(","))
        tag = (group << 16) | element
    else:
        from pydicom.datadict import tag_for_keyword
        found = tag_for_keyword(match.group(2))
        if found is None:
            return ""
        tag = found
    raw = element_bytes(ds, tag)
    if not raw:
        return ""
    return clean(raw.decode("latin-1").rstrip(" \0"))


def generate_file_name(ds: Dataset, syntax: str, calling: str = "", called: str = "",
                       max_length: int = 255, now: float | None = None, counter: int | None = None) -> str:
    """The relative file name for ``ds`` under ``FileNameSyntax`` (with ``/`` separators)."""
    v = NameInputs.from_dataset(ds)
    now = now if now is not None else time.time()
    c = counter if counter is not None else next_counter()
    mode = _mode(syntax)
    t = int(now)
    name8 = clean(v.name)[:8]
    id8, id16, id32 = clean(v.patient_id)[:8], clean(v.patient_id)[:16], clean(v.patient_id)[:32]
    s_, i_ = atoi(v.series), atoi(v.image)
    study, series, sop = safe_uid(v.study_uid), safe_uid(v.series_uid), safe_uid(v.sop_uid)
    stamp = f"{t}{c:04x}"
    if mode == 998:
        if _lua_namer is None:
            raise UnsafeFileName("FileNameSyntax 'lua:' needs the Lua capability, which is not loaded")
        produced = _lua_namer(ds, syntax[4:], calling, called)
        if not produced:
            raise UnsafeFileName(f"FileNameSyntax '{syntax}' gave no file name")
        name = produced.replace("\\", "/")
    elif mode == 999:
        name = _pattern(syntax, ds, v, calling, called, now, c)
    elif mode == 1:
        name = f"{name8}_{id8}/{s_:04d}_{i_:06d}_{stamp}.v2"
    elif mode == 2:
        name = f"{name8}_{id8}/{series}_{s_:04d}_{i_:06d}_{stamp}.v2"
    elif mode == 3:
        name = f"{id16}/{series}_{s_:04d}_{i_:06d}_{stamp}.v2"
    elif mode == 4:
        name = f"{id16}/{series}_{s_:04d}_{i_:06d}_{stamp}.dcm"
    elif mode == 5:
        name = f"{clean(v.name)}/{series}_{s_:04d}_{i_:06d}_{stamp}.v2"
    elif mode == 6:
        name = f"{id32}/{study}/{series}/{sop}.v2"
    elif mode == 7:
        name = f"{study}/{series}/{sop}.v2"
    elif mode == 8:
        name = f"{id32}/{study}/{series}/{sop}.dcm"
    elif mode == 9:
        name = f"{study}/{series}/{sop}.dcm"
    elif mode == 10:
        name = f"Images/{sop}.dcm"
    elif mode == 11:
        name = f"{clean(v.name)}/{study}/{series}/{sop}.dcm"
    elif mode == 12:
        name = f"{clean(v.name)}_{clean(v.patient_id)}/{clean(v.modality)}_{clean(v.study_id)}/" \
               f"{clean(v.series)}/{sop}.dcm"
    else:
        name = f"{name8}_{id8}/{s_}_{i_}_{t}.v2"
    if mode not in KEEP_EXTENSION_MODES and v.transfer_syntax and v.transfer_syntax not in _UNCOMPRESSED:
        stem, dot, _ext = name.rpartition(".")
        if dot and "/" not in _ext:
            name = stem + ".dcm"
    root, sep, tail = name.partition("/")
    if sep and len(name) > max_length + len(root) + 1:
        tail = tail[len(name) - (max_length + len(root) + 1):]
        name = f"{root}/{tail}"
    return check_relative(name)


def check_relative(name: str) -> str:
    """Refuse names that are absolute or climb out of the device root."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith("/") or any(p in ("..", "") for p in parts[:-1]) or parts[-1] in ("", ".", ".."):
        raise UnsafeFileName(f"generated file name '{name}' would leave the storage folder")
    return name
