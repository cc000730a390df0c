"""``newuids`` / ``olduids`` (``NewUIDsInDICOMObject``, UIDMODS, conquest-storage.md §3.8).

Every UI element whose dictionary name does not contain ``Class`` (and is not the
transfer syntax) is replaced by its mapped UID, recursively in sequences. Exceptions
are ``gggg,eeee|`` (keep that element), ``uid;`` (keep that value) or
``gggg,eeee=newuid|`` (set that value).
"""
from __future__ import annotations

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset

from .context import ConvertContext


def _changeable(tag: int) -> bool:
    name = keyword_for_tag(tag) or ""
    return "Class" not in name and name != "TransferSyntaxUID"


def _walk(ds: Dataset, exceptions: str, change) -> None:
    for elem in list(ds):
        key = f"{elem.tag >> 16:04x},{elem.tag & 0xFFFF:04x}"
        if elem.VR == "SQ":
            for item in elem.value or []:
                _walk(item, exceptions, change)
            continue
        at = exceptions.lower().find(key + "=")
        if at >= 0:
            new = exceptions[at + 10:].split("|", 1)[0]
            elem.value = new
            continue
        if elem.VR != "UI" or not _changeable(elem.tag):
            continue
        values = elem.value if isinstance(elem.value, (list,)) or hasattr(elem.value, "__iter__") and \
            not isinstance(elem.value, str) else [elem.value]
        out = []
        for value in values:
            value = str(value or "")
            if not value or f"{value};" in exceptions or f"{key}|" in exceptions.lower():
                out.append(value)
            else:
                out.append(change(value) or value)
        elem.value = out if len(out) > 1 else out[0]


def new_uids(ctx: ConvertContext, ds: Dataset, exceptions: str = "", stage: str = "") -> None:
    """Replace the object's UIDs by new, consistent ones (same old UID → same new UID)."""
    db = ctx.db()
    _walk(ds, exceptions, lambda uid: db.change_uid(uid, "newuids", stage))


def old_uids(ctx: ConvertContext, ds: Dataset, exceptions: str = "", stage: str = "") -> None:
    """Restore UIDs changed by ``newuids`` (unchanged where no mapping exists)."""
    db = ctx.db()
    _walk(ds, exceptions, lambda uid: db.change_uid_back(uid, stage))
