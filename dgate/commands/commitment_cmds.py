"""``requestcommitment:AE,patid[:studyuid[:seriesuid]]``: ask another archive for storage
commitment of objects we hold (e.g. after forwarding them). Beyond the original.

The instances are the images of our database for the patient, study or series given
(all three keys optional, at least one needed). The N-ACTION goes to ``AE`` from
acrnema.map (:func:`dgate.services.commitment_scu.request_commitment`); the report is awaited on
that association, then on a new one the archive opens to our server port (any worker
hands it to the hub, where this command waits). Reply: ``<n> committed, <m> failed``, or
``failed: <why>``; the operator log names every instance that failed and its reason.
"""
from __future__ import annotations

from pydicom.dataset import Dataset

from ..db import DatabaseError
from ..log import printable
from ..services.commitment_scu import CommitmentFailed, request_commitment
from . import command
from .context import CommandContext

TIMEOUT = 60.0
MAX_INSTANCES = 100000


def _references(ctx: CommandContext, patid: str, study: str, series: str) -> list[tuple[str, str]]:
    ident = Dataset()
    ident.QueryRetrieveLevel = "IMAGE"
    ident.PatientID = patid
    ident.StudyInstanceUID = study
    ident.SeriesInstanceUID = series
    ident.SOPClassUID = ""
    ident.SOPInstanceUID = ""
    return [(str(ds.get("SOPClassUID", "") or ""), str(ds.SOPInstanceUID))
            for ds in ctx.db().find("IMAGE", ident) if ds.get("SOPInstanceUID")]


@command("requestcommitment")
def requestcommitment(ctx: CommandContext, args: str) -> str:
    """Storage commitment of a patient, study or series we hold, from archive ``AE``."""
    ae, _, keys = args.partition(",")
    ae = ae.strip()
    patid, study, series = (keys.split(":") + ["", ""])[:3]
    if not ae or not (patid or study or series):
        ctx.logs.operator.printf("***requestcommitment: use requestcommitment:AE,patid[:studyuid[:seriesuid]]\n")
        return "failed: bad arguments"
    address = ctx.config.amap.lookup(ae)
    if address is None:
        ctx.logs.operator.printf(f"***requestcommitment: {printable(ae)} is not in acrnema.map\n")
        return "failed: unknown AE"
    try:
        refs = _references(ctx, patid.strip(), study.strip(), series.strip())
    except DatabaseError as exc:
        ctx.logs.operator.printf(f"***requestcommitment: database: {exc}\n")
        return "failed: database"
    if not refs:
        ctx.logs.operator.printf("***requestcommitment: no images selected\n")
        return "failed: no images"
    if len(refs) > MAX_INSTANCES:
        ctx.logs.operator.printf(f"***requestcommitment: {len(refs)} images, at most {MAX_INSTANCES} per request\n")
        return "failed: too many images"
    try:
        outcome = request_commitment(ctx.own_ae, address, refs, timeout=TIMEOUT,
                                     uid_prefix=ctx.settings.str("UIDPrefix"))
    except (CommitmentFailed, OSError, RuntimeError) as exc:
        ctx.logs.operator.printf(f"***requestcommitment to {printable(ae)}: {printable(str(exc))}\n")
        return f"failed: {exc}"
    for uid, reason in outcome.failed.items():
        ctx.logs.operator.printf(f"***Storage commitment by {printable(ae)} failed for {printable(uid)} "
                                 f"(reason 0x{reason:04x})\n")
    ctx.logs.operator.printf(f"Storage commitment {outcome.transaction} by {printable(ae)}: "
                             f"{len(outcome.committed)} committed, {len(outcome.failed)} failed\n")
    return f"{len(outcome.committed)} committed, {len(outcome.failed)} failed"
