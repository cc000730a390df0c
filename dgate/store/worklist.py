"""``WorkListMode`` (``ApplyWorklist``, conquest-storage.md §4.8): an incoming object's
AccessionNumber (the first column of the WorkList table) selects a worklist row; every
worklist column whose tag is present at top level in the object and non-empty in the row
overwrites the object's value. Mode 2 also refuses an object with no matching row, after
the :data:`REJECTED_WORKLIST` hooks (the RejectedImageWorkListConverter0; ``retry`` looks
the row up once more).

It runs as an import step (order 10, before the import converters; the original applies it
just before FixImage), registered only while ``WorkListMode`` is set: a step costs a full
decode of every object.
"""
from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.tag import Tag

from ..runtime import IdleTask, TaskContext, register_task
from .ingest import IMPORT_STEPS, IngestContext, Verdict, _Registry

REJECTED_WORKLIST = _Registry()
"""``REJECTED_WORKLIST.register(name, hook)``; ``hook(ds, ctx) -> Verdict | None`` for an object
WorkListMode 2 would refuse; ``Verdict.RETRY``: look the row up once more."""


def _row(db, accession: str) -> dict[int, str] | None:
    table = db.schema.worklist
    if not accession or not table.entries:
        return None
    columns = ", ".join(e.column for e in table.entries)
    rows = db.driver.query(f"SELECT {columns} FROM {table.name} WHERE {table.key.column} = {db.driver.text_param}",
                           [accession])
    if not rows:
        return None
    return {e.tag: ("" if v is None else str(v)) for e, v in zip(table.entries, rows[0])}


def apply_worklist(ds: Dataset, ctx: IngestContext) -> Verdict | None:
    """The import step: update ``ds`` from its worklist row; REJECT in mode 2 without one."""
    ingest = ctx.ingest
    db = ctx.extra.get("db")
    if ingest is None or db is None:
        return None
    mode = ingest.settings.int("WorkListMode")
    if not mode:
        return None
    accession = str(ds.get("AccessionNumber", "") or "").strip()
    row = _row(db, accession)
    if row is None and mode == 2:
        retry = False
        for name, hook in REJECTED_WORKLIST.items():
            try:
                retry = hook(ds, ctx) is Verdict.RETRY or retry
            except Exception as exc:  # the refusal stands
                ingest.logs.operator.printf(f"***Rejected-worklist step {name} failed: {exc}\n")
        if retry:
            accession = str(ds.get("AccessionNumber", "") or "").strip()
            row = _row(db, accession)
        if row is None:
            ingest.logs.operator.printf(f"***WorkListMode 2: no worklist entry for AccessionNumber "
                                        f"'{accession}' of {ds.get('SOPInstanceUID', '')}\n")
            return Verdict.REJECT
    if row is None:
        return None
    changed = False
    for tag, value in row.items():
        if not value or tag not in ds or Tag(tag).group == 0x0002:
            continue
        element = ds[tag]
        if element.VR == "SQ" or str(element.value) == value:
            continue
        element.value = value
        changed = True
    if changed:
        ctx.mark_changed()
    return None


def sync(settings) -> None:
    """(Un)register the import step for the configured ``WorkListMode``."""
    if settings.int("WorkListMode"):
        IMPORT_STEPS.register("worklist", apply_worklist, order=10)
    else:
        IMPORT_STEPS.unregister("worklist")


def _task(ctx: TaskContext) -> IdleTask:
    sync(ctx.config.settings)
    return IdleTask()


register_task("worklistmode", _task)
__all__ = ["REJECTED_WORKLIST", "apply_worklist", "sync"]
