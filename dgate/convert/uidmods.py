"""``newuids`` / ``olduids`` (``NewUIDsInDICOMObject``, UIDMODS, conquest-storage.md §3.8).

Every element whose dictionary VR is UI and whose dictionary keyword does not contain
``Class`` (and is not the transfer syntax) is replaced by its mapped UID, recursively in
sequences; the UIDMODS type of a new mapping is that keyword (as in 1.5.0e). Exceptions
are ``gggg,eeee|`` (keep that element), ``uid;`` (keep that value) or
``gggg,eeee=newuid|`` (set that value). Empty UIDs stay empty.
"""
from __future__ import annotations

from typing import Callable

from pydicom.dataset import Dataset

from .context import ConvertContext
from .elements import Names, names_for


def _walk(ds: Dataset, exceptions: str, names: Names, change: Callable[[str, str], str | None],
          log: Callable[[str, bool], None], what: str) -> None:
    for elem in list(ds):
        key = f"{elem.tag >> 16:04x},{elem.tag & 0xFFFF:04x}"
        if elem.VR == "SQ":
            for item in elem.value or []:
                _walk(item, exceptions, names, change, log, what)
            continue
        at = exceptions.lower().find(key + "=")
        if at >= 0:
            elem.value = exceptions[at + 10:].split("|", 1)[0]
            log(f"[{what}UIDsInDICOMObject] setting {key}", True)
            continue
        keyword = names.keyword(elem.tag)
        if (names.vr(elem.tag) or elem.VR) != "UI" or "Class" in keyword or keyword == "TransferSyntaxUID":
            continue
        if f"{key}|" in exceptions.lower():
            continue
        values = list(elem.value) if elem.VM > 1 else [elem.value]
        out = []
        for value in values:
            value = str(value or "")
            if not value or f"{value};" in exceptions:
                out.append(value)
                continue
            new = change(value, keyword)
            if new:
                verb = "changing" if what == "New" else "restoring"
                log(f"[{what}UIDsInDICOMObject] {verb} {key} ({keyword})", False)
            else:
                log(f"***[{what}UIDsInDICOMObject] FAILED to change {key} ({keyword})", True)
            out.append(new or value)
        elem.value = out if len(out) > 1 else out[0]


def _logger(ctx: ConvertContext) -> Callable[[str, bool], None]:
    def log(text: str, operator: bool) -> None:
        (ctx.logs.operator if operator else ctx.logs.debug).printf(text + "\n")
    return log


def new_uids(ctx: ConvertContext, ds: Dataset, exceptions: str = "", stage: str = "") -> None:
    """Replace the object's UIDs by new, consistent ones (same old UID → same new UID)."""
    db = ctx.db()
    _walk(ds, exceptions, names_for(ctx.config), lambda uid, kind: db.change_uid(uid, kind, stage),
          _logger(ctx), "New")


def old_uids(ctx: ConvertContext, ds: Dataset, exceptions: str = "", stage: str = "") -> None:
    """Restore UIDs changed by ``newuids`` (unchanged, and reported, where no mapping exists)."""
    _walk(ds, exceptions, names_for(ctx.config), lambda uid, kind: change_back(ctx, uid, stage),
          _logger(ctx), "Old")


def change_back(ctx: ConvertContext, uid: str, stage: str = "") -> str | None:
    """``ChangeUIDBack``: the original of a changed UID, None (and the 1.5.0e complaint) if unknown."""
    old = ctx.db().change_uid_back(uid, stage)
    if not old:
        ctx.logs.operator.printf("***ChangeUIDBack: Unable to locate new UID\n")
    return old
