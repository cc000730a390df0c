"""QIDO-RS (PS3.18 §10.6): search for studies, series and instances, answered from the
database only (the Conquest tables of dicom.sql; no file is read).

* Levels and relational forms: ``/studies``, ``/studies/{st}/series``, ``/series``,
  ``/studies/{st}/series/{se}/instances``, ``/studies/{st}/instances``, ``/instances``.
* Matching keys by keyword or tag (``PatientID=…``, ``00100020=…``); wildcards ``*`` ``?``,
  date/time ranges ``a-b``, UID lists (``,`` or ``\\``) as in C-FIND (PS3.4 C.2.2.2).
* ``fuzzymatching=true``: person names match case-insensitively at the start of any
  name component (PS3.4 C.2.2.2.1.2 leaves the method to the server).
* ``includefield`` (tags, keywords, ``all``), ``limit``, ``offset``.
* Default return attributes of PS3.18 Tables 10.6.3-3/4/5; those the database does not
  hold are left out, and attributes that can be neither matched nor returned are named
  in a ``Warning`` header. Sequence-matching keys (``Seq.Attr``) are parsed and reported
  the same way, because the Conquest tables hold no sequences.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset

from ..db import Database
from ..db.query import LIMIT, OFFSET, text_element
from .errors import bad_request

STUDY_DEFAULTS = (0x00080020, 0x00080030, 0x00080050, 0x00080056, 0x00080061, 0x00080090, 0x00081190,
                  0x00100010, 0x00100020, 0x00100030, 0x00100040, 0x0020000D, 0x00200010, 0x00201206,
                  0x00201208)
SERIES_DEFAULTS = (0x00080056, 0x00080060, 0x0008103E, 0x00081190, 0x0020000E, 0x00200011, 0x00201209,
                   0x0020000D)
# relational queries (no parent UID in the path) also return the parents' attributes (PS3.18 §10.6.3.3)
STUDY_RELATIONAL = (0x00080020, 0x00080030, 0x00080050, 0x00080090, 0x00100010, 0x00100020, 0x00100030,
                    0x00100040, 0x0020000D, 0x00200010)
SERIES_RELATIONAL = (0x00080060, 0x0008103E, 0x0020000E, 0x00200011)
INSTANCE_DEFAULTS = (0x00080016, 0x00080018, 0x00080056, 0x00081190, 0x00200013, 0x00280010, 0x00280011,
                     0x00280008, 0x0020000D, 0x0020000E)
DEFAULTS = {"STUDY": STUDY_DEFAULTS, "SERIES": SERIES_DEFAULTS, "IMAGE": INSTANCE_DEFAULTS}
COMPUTED = {0x00080056, 0x00081190, 0x00201206, 0x00201208, 0x00201209}
LEVEL_TABLES = {"STUDY": ("study", "patient"), "SERIES": ("series", "study", "patient"),
                "IMAGE": ("image", "series", "study", "patient")}
CONTROL = {"limit", "offset", "fuzzymatching", "includefield", "orderby"}
PERSON_NAME = "PN"


@dataclass
class QidoQuery:
    level: str
    matches: dict[int, str] = field(default_factory=dict)
    include: set[int] = field(default_factory=set)
    include_all: bool = False
    limit: int | None = None
    offset: int = 0
    fuzzy: bool = False
    unsupported: list[str] = field(default_factory=list)
    parents: set[int] = field(default_factory=set)       # parent UIDs given in the path


def parse_attribute(name: str) -> int | None:
    """A tag from a keyword or 8 hex digits; None for an unknown name."""
    if len(name) == 8:
        try:
            return int(name, 16)
        except ValueError:
            pass
    tag = tag_for_keyword(name)
    return int(tag) if tag is not None else None


@functools.lru_cache(maxsize=4096)
def vr_of(tag: int) -> str:
    try:
        return dictionary_VR(tag).split(" or ")[0]
    except KeyError:
        return "UN"


def parse_query(level: str, params: list[tuple[str, str]], path_keys: dict[int, str]) -> QidoQuery:
    q = QidoQuery(level)
    for name, value in params:
        lower = name.lower()
        if lower == "limit":
            if not value.isdigit():
                raise bad_request(f"limit must be a non-negative integer, not '{value}'")
            q.limit = int(value)
        elif lower == "offset":
            if not value.isdigit():
                raise bad_request(f"offset must be a non-negative integer, not '{value}'")
            q.offset = int(value)
        elif lower == "fuzzymatching":
            if value.lower() not in ("true", "false"):
                raise bad_request("fuzzymatching must be true or false")
            q.fuzzy = value.lower() == "true"
        elif lower == "includefield":
            for item in value.replace("%2C", ",").split(","):
                item = item.strip()
                if not item:
                    continue
                if item.lower() == "all":
                    q.include_all = True
                    continue
                tag = parse_attribute(item)
                if tag is None:
                    if "." in item:
                        q.unsupported.append(item)
                        continue
                    raise bad_request(f"includefield: unknown attribute '{item}'")
                q.include.add(tag)
        elif lower == "orderby":
            q.unsupported.append("orderby")
        elif "." in name:
            parts = [parse_attribute(p) for p in name.split(".")]
            if any(p is None for p in parts):
                raise bad_request(f"unknown attribute in '{name}'")
            q.unsupported.append(name)
        else:
            tag = parse_attribute(name)
            if tag is None:
                raise bad_request(f"unknown query parameter or attribute '{name}'")
            if vr_of(tag) == "UI":
                value = value.replace(",", "\\")
            q.matches[tag] = value
    for tag, value in path_keys.items():
        q.matches[tag] = value
        q.parents.add(tag)
    return q


def _available(db: Database, level: str) -> dict[int, str]:
    """Tags the database holds for a level and the levels above (tag → table level)."""
    found: dict[int, str] = {}
    for name in LEVEL_TABLES[level]:
        for entry in db.schema.table(name).entries:
            found.setdefault(entry.tag, name)
    return found


def _fuzzy_ok(stored: str, wanted: str) -> bool:
    """Fuzzy person-name match: every word of the query starts a component of the name."""
    components = [c for c in stored.upper().replace("^", " ").replace("=", " ").split() if c]
    for word in wanted.upper().replace("^", " ").replace("*", " ").split():
        if not any(c.startswith(word) for c in components):
            return False
    return True


def run_query(db: Database, q: QidoQuery, base_url: str) -> tuple[list[dict], list[str]]:
    """Answer a QIDO query: (DICOM JSON objects, names of unsupported attributes)."""
    available = _available(db, q.level)
    wanted = set(DEFAULTS[q.level]) | q.include | set(q.matches)
    if q.level in ("SERIES", "IMAGE") and 0x0020000D not in q.parents:
        wanted |= set(STUDY_RELATIONAL)
    if q.level == "IMAGE" and 0x0020000E not in q.parents:
        wanted |= set(SERIES_RELATIONAL)
    if q.include_all:
        wanted |= set(available)
    unsupported = list(q.unsupported)
    for tag in sorted(set(q.matches) | q.include):
        if tag not in available and tag not in COMPUTED:
            unsupported.append(keyword_for_tag(tag) or f"{tag:08X}")
    ident = Dataset()
    fuzzy_filters: dict[int, str] = {}
    for tag in sorted(wanted):
        if tag not in available:
            continue
        value = q.matches.get(tag, "")
        vr = vr_of(tag)
        if value and q.fuzzy and vr == PERSON_NAME:
            fuzzy_filters[tag] = value
            value = ""
        ident[tag] = text_element(tag, value, vr) if vr != "UI" else _uid_element(tag, value)
    post_filter = bool(fuzzy_filters)
    if not post_filter:
        if q.limit is not None:
            ident[LIMIT] = text_element(LIMIT, str(q.limit), "LO")
            ident[OFFSET] = text_element(OFFSET, str(q.offset), "LO")
    objects = _find_json(db, q.level, ident)
    if post_filter:
        objects = [o for o in objects if all(_fuzzy_ok(_name(o, t), v) for t, v in fuzzy_filters.items())]
        end = q.offset + q.limit if q.limit is not None else None
        objects = objects[q.offset:end]
    elif q.limit is None and q.offset:
        objects = objects[q.offset:]
    _add_computed(db, q.level, objects, wanted, base_url)
    return objects, unsupported


def _find_json(db: Database, level: str, ident: Dataset) -> list[dict]:
    """The C-FIND answer of the database as DICOM JSON objects, built straight from the
    rows (the values are those :meth:`Database.find` returns, without making data sets)."""
    from ..db.query import raw_element
    from ..db.values import from_db, response_value
    from .dicomjson import raw_json, to_json_dict
    built, rows = db.queries.rows(level, ident)
    utf8 = bool(db.settings.int("UTF8FromDB"))
    keys = [(k, f"{k.tag:08X}", vr_of(k.tag)) for k in built.keys]
    objects = []
    for row in rows:
        obj: dict = {}
        for (key, name, vr), text in zip(keys, row):
            raw = response_value(from_db(text, utf8).rstrip(" "), key.entry)
            item = raw_json(vr, raw)
            if item is None:
                ds = Dataset()
                ds[key.tag] = raw_element(key.tag, raw, vr)
                item = to_json_dict(ds).get(name, {"vr": vr})
            obj[name] = item
        objects.append(obj)
    return objects


def _name(obj: dict, tag: int) -> str:
    values = obj.get(f"{tag:08X}", {}).get("Value") or [None]
    first = values[0]
    return first.get("Alphabetic", "") if isinstance(first, dict) else str(first or "")


def _uid_element(tag: int, value: str):
    from ..db.query import raw_element
    raw = value.encode("latin-1", "replace")
    return raw_element(tag, raw + (b"\0" if len(raw) % 2 else b""), "UI")


def _value(obj: dict, tag: int) -> str:
    item = obj.get(f"{tag:08X}", {})
    values = item.get("Value") or [""]
    return str(values[0])


def _add_computed(db: Database, level: str, objects: list[dict], wanted: set[int], base_url: str) -> None:
    if not objects:
        return
    counts: dict[str, tuple[int, int]] = {}
    if level == "STUDY" and wanted & {0x00201206, 0x00201208}:
        counts = db.child_counts("STUDY", [_value(o, 0x0020000D) for o in objects])
    elif level == "SERIES" and 0x00201209 in wanted:
        counts = db.child_counts("SERIES", [_value(o, 0x0020000E) for o in objects])
    for obj in objects:
        study, series, sop = _value(obj, 0x0020000D), _value(obj, 0x0020000E), _value(obj, 0x00080018)
        if 0x00080056 in wanted:
            obj["00080056"] = {"vr": "CS", "Value": ["ONLINE"]}
        if 0x00081190 in wanted and study:
            url = f"{base_url}/studies/{study}"
            if level in ("SERIES", "IMAGE") and series:
                url += f"/series/{series}"
            if level == "IMAGE" and series and sop:
                url += f"/instances/{sop}"
            obj["00081190"] = {"vr": "UR", "Value": [url]}
        if level == "STUDY":
            n_series, n_images = counts.get(study, (0, 0))
            if 0x00201206 in wanted:
                obj["00201206"] = {"vr": "IS", "Value": [n_series]}
            if 0x00201208 in wanted:
                obj["00201208"] = {"vr": "IS", "Value": [n_images]}
        elif level == "SERIES" and 0x00201209 in wanted:
            obj["00201209"] = {"vr": "IS", "Value": [counts.get(series, (0, 0))[1]]}
    for i, obj in enumerate(objects):
        objects[i] = dict(sorted(obj.items()))
