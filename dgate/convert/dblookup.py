"""Database reads of the converter language: ``%QP/%QS/%QE/%QW`` and ``(sop)desc``."""
from __future__ import annotations

from pydicom.dataset import Dataset

from .context import ConvertContext
from .elements import format_element, vr_of

_LEVELS = {"P": ("PATIENT", (0x00100020,)), "S": ("STUDY", (0x00100020, 0x0020000D)),
           "E": ("SERIES", (0x00100020, 0x0020000D, 0x0020000E)), "W": ("WORKLIST", (0x00080050,))}


def lookup(ctx: ConvertContext, ds: Dataset, level: str, tag: int) -> str:
    """The value of ``tag`` in the first database record of ``level`` for this object's
    keys (patient ID; + study UID; + series UID; worklist by accession number)."""
    name, keys = _LEVELS[level]
    ident = Dataset()
    for key in keys:
        if key not in ds or not str(ds[key].value or ""):
            return ""
        ident.add_new(key, ds[key].VR, ds[key].value)
    ident.QueryRetrieveLevel = name if name != "WORKLIST" else "WORKLIST"
    ident.add_new(tag, vr_of(tag) or "LO", None)
    db = ctx.db()
    rows = db.find_worklist(ident) if name == "WORKLIST" else db.find(name, ident)
    if not rows or tag not in rows[0]:
        return ""
    return format_element(rows[0][tag])


def load_object(ctx: ConvertContext, key: str) -> Dataset | None:
    """``patid:sopuid`` → the stored object (for ``%V(desc)desc``), or None."""
    from ..store.devices import locate
    from ..store.formats import read_file
    patid, _, sop = key.rpartition(":")
    found = ctx.db().get_file(sop, patid or None)
    if found is None:
        return None
    path = locate(ctx.settings, found.device, found.object_file)
    if path is None:
        return None
    try:
        return read_file(path).dataset()
    except Exception:
        return None
