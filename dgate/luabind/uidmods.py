"""UID replacement with UIDMODS bookkeeping (``NewUIDsInDICOMObject``, ``MergeUIDs``;
conquest-storage.md §3.8).

Every UI element whose dictionary name has no ``Class`` in it and is not the transfer
syntax gets the consistent new UID ``Database.change_uid`` gives for its stage, also
inside sequences; merging first maps several old UIDs to one new UID in stage
``(merge)`` so the objects of the merged series/studies all end up with it.
"""
from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from ..config.dictionary import Dictionary
from ..uids import gen_uid
from .elements import raw_bytes, set_raw, vr_of

MERGE_STAGE = "(merge)"


def _changeable(tag: int, dic: Dictionary) -> bool:
    entry = dic.by_tag(tag)
    name = entry.keyword if entry is not None else ""
    return "Class" not in name and name != "TransferSyntaxUID"


def _map_uids(ds: Dataset, dic: Dictionary, exclude: set[int] | frozenset[int], change) -> int:
    """Replace every changeable UI value of ``ds`` (recursively, not group 2 or ``exclude``)
    with ``change(tag, value)``; a None answer keeps it. Returns how many were replaced."""
    changed = 0
    for key in list(ds.keys()):
        tag = int(key)
        vr = vr_of(ds, tag, dic)
        if vr == "SQ":
            value = ds[tag].value
            if isinstance(value, Sequence):
                for item in value:
                    changed += _map_uids(item, dic, exclude, change)
            continue
        if vr != "UI" or tag in exclude or tag >> 16 == 2 or not _changeable(tag, dic):
            continue
        current = (raw_bytes(ds, tag, dic) or b"").split(b"\0", 1)[0].strip().decode("latin-1")
        if not current:
            continue
        replacement = change(tag, current)
        if replacement is None:
            continue
        set_raw(ds, tag, "UI", replacement.encode("latin-1"))
        changed += 1
    return changed


def new_uids(ds: Dataset, db, dic: Dictionary, exclude: set[int] = frozenset(), stage: str = "",  # type: ignore[assignment]
             mod_type: str = "") -> int:
    """Replace the UIDs of ``ds`` (recursively); returns how many were changed."""
    def change(tag: int, old: str) -> str:
        entry = dic.by_tag(tag)
        return db.change_uid(old, mod_type or (entry.keyword if entry else "uid"), stage)
    return _map_uids(ds, dic, exclude, change)


def old_uids(ds: Dataset, db, dic: Dictionary, stage: str = "") -> int:
    """Restore the UIDs ``new_uids`` replaced for ``stage`` (``olduids``)."""
    return _map_uids(ds, dic, frozenset(), lambda _tag, new: db.change_uid_back(new, stage) or None)


def merge_uids(db, uids: list[str], mod_type: str, prefix: str) -> str:
    """``MergeUIDs``: map every old UID to one new UID in stage ``(merge)``."""
    new = gen_uid(prefix, 7)
    p = db.driver.text_param
    import time
    with db.driver.transaction():
        for old in uids:
            if not old:
                continue
            db.driver.execute(f"DELETE FROM UIDMODS WHERE OldUID = {p} AND Stage = {p}", [old, MERGE_STAGE])
            db.driver.execute(f"INSERT INTO UIDMODS (MODTime, OldUID, MODType, NewUID, Stage, Annotation) "
                              f"VALUES ({db.driver.int_param}, {p}, {p}, {p}, {p}, {p})",
                              [int(time.time()), old, mod_type, new, MERGE_STAGE, ""])
    return new
