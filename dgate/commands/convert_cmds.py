"""Forwarding, export and routing commands (conquest-protocol.md §5.3, §5.4).

``forward:file,mode,AE`` (C-STORE one file), ``export:`` (zip of the selection),
``submit:``/``submit2:`` (upload of that zip), ``prefetch:patid``,
``grabimagesfromserver:AE,date``, ``attachanytopatient|study|series:`` and
``attachrtplantortstruct:`` (rewrite UIDs to attach an object, then store it), and our
``queue_status:`` (export and delayed queues, also in ``display_status``).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydicom.dataset import Dataset

from ..convert.delayed import DelayedOp, build_archive
from ..convert.forward import ForwardSpec
from ..convert.routing import Routing, for_config
from . import command
from .context import CommandContext, deliver
from .status_cmds import STATUS_EXTRAS


def routing(ctx: CommandContext) -> Routing:
    """The server's routing services (the hub's), else this process's."""
    found = getattr(ctx.server, "routing", None)
    if isinstance(found, Routing):
        return found
    return for_config(ctx.config, ctx.logs, ctx.port, ctx.own_ae)


def _status_lines(ctx: CommandContext) -> list[str]:
    found = getattr(ctx.server, "routing", None)
    if isinstance(found, Routing):
        return found.status()
    from ..convert.routing import existing
    return [line for r in existing() for line in r.status()]


STATUS_EXTRAS.append(_status_lines)


def _parts(args: str, n: int) -> list[str]:
    return (args.split(",", n - 1) + [""] * n)[:n]


@command("queue_status")
def queue_status(ctx: CommandContext, args: str) -> bytes | None:
    return deliver("".join(routing(ctx).status()), args, pre=True)


@command("forward")
def forward_cmd(ctx: CommandContext, args: str) -> str | None:
    """``forward:file,mode,AE``: C-STORE the file with compression ``mode``."""
    from ..store.formats import read_file
    name, mode, ae = _parts(args, 3)
    try:
        ds = read_file(name).dataset()
    except Exception as exc:
        ctx.logs.operator.printf(f"*** forward: cannot read {name}: {exc}\n")
        return None
    r = routing(ctx)
    run_ctx = r.context(family="Forward", number=-1)
    ok, _ = r.forwarder.forward(ForwardSpec(ae.strip(), compression=mode.strip() or None), ds, run_ctx, 0,
                                export=True)
    return None


def _selection(args: str) -> tuple[DelayedOp, str, str]:
    patid, study, series, sop, target, rest = _parts(args, 6)
    op = DelayedOp("export", patient_id=patid, study=study, series=series, sop=sop)
    return op, target, rest


@command("export")
def export_cmd(ctx: CommandContext, args: str) -> bytes | None:
    """``export:patid,study,series,sop,target[,script]``: a zip of the selection."""
    op, target, script = _selection(args)
    op.script = script
    r = routing(ctx)
    fd, name = tempfile.mkstemp(suffix=".zip")
    os.close(fd)
    try:
        build_archive(r.delayed, op, Path(name))
        data = Path(name).read_bytes()
    finally:
        os.unlink(name)
    target = target.strip()
    if target in ("", "cgi"):
        return (f"Content-type: application/zip\nContent-Disposition: attachment; filename=\"{op.patient_id}.zip\"\n"
                f"Content-length: {len(data)}\nAccess-Control-Allow-Origin: *\n\n").encode() + data
    if target == "binary":
        return data
    Path(target).write_bytes(data)
    return None


def _submit(ctx: CommandContext, args: str, custom: bool) -> None:
    patid, study, series, sop, host, secret, script = _parts(args, 7)
    op = DelayedOp("submit2" if custom else "submit", patient_id=patid, study=study, series=series, sop=sop,
                   imagetype=host, seriesdesc=secret, script=script or "", delay=0)
    r = routing(ctx)
    from ..convert.delayed import _submit as run_submit
    run_submit(r.delayed, op, custom)


@command("submit")
def submit_cmd(ctx: CommandContext, args: str) -> None:
    _submit(ctx, args, False)


@command("submit2")
def submit2_cmd(ctx: CommandContext, args: str) -> None:
    _submit(ctx, args, True)


@command("prefetch")
def prefetch_cmd(ctx: CommandContext, args: str) -> None:
    from ..convert.delayed import _prefetch
    _prefetch(routing(ctx).delayed, DelayedOp("prefetch", patient_id=args.strip()))


@command("grabimagesfromserver")
def grab_cmd(ctx: CommandContext, args: str) -> str | None:
    """``grabimagesfromserver:AE,date``: C-MOVE here the studies of that date held by AE
    whose images are missing here."""
    ae, date = _parts(args, 2)
    grab(ctx, ae, date)
    return None


def grab(ctx: CommandContext, ae: str, date: str) -> bool:
    """``GrabImagesFromServer`` (also ``dgate -gAE[,date]``); False when AE is unknown or
    cannot be queried."""
    from ..net import scu
    address = ctx.config.amap.lookup(ae.strip())
    if address is None:
        ctx.logs.operator.printf(f"*** grab: AE not found: {ae}\n")
        return False
    ident = Dataset()
    ident.QueryRetrieveLevel = "IMAGE"
    ident.StudyDate = date.strip()
    for keyword in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        setattr(ident, keyword, "")
    try:
        remote = scu.find(ctx.own_ae, address, ident, "study")
    except (scu.AssociationFailed, OSError) as exc:
        ctx.logs.operator.printf(f"*** grab: could not connect to {ae} ({exc})\n")
        return False
    db = ctx.db()
    studies = {str(d.StudyInstanceUID): str(d.get("PatientID", "")) for d in remote
               if db.get_file(str(d.get("SOPInstanceUID", ""))) is None}
    for study, patid in studies.items():
        move = Dataset()
        move.QueryRetrieveLevel = "STUDY"
        move.PatientID = patid
        move.StudyInstanceUID = study
        try:
            scu.move(ctx.own_ae, address, ctx.own_ae, move, "study", 0xFBAD)
        except (scu.AssociationFailed, OSError) as exc:
            ctx.logs.operator.printf(f"*** grab: move failed ({exc})\n")
    ctx.logs.operator.printf(f"Grabbed {len(studies)} studies from {ae}\n")
    return True


# -- attach ------------------------------------------------------------------------------------

_PATIENT = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex")
_STUDY = _PATIENT + ("StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber",
                     "ReferringPhysicianName", "StudyDescription")
_SERIES = _STUDY + ("SeriesInstanceUID", "SeriesNumber", "FrameOfReferenceUID")


def _attach(ctx: CommandContext, args: str, keywords: tuple[str, ...], new_lower: tuple[str, ...]) -> None:
    from ..store.formats import Encoded, read_file
    from ..store.ingest import Ingest, StoreFailed
    from ..uids import gen_uid
    obj_name, sample_name = _parts(args, 2)
    try:
        obj, sample = read_file(obj_name).dataset(), read_file(sample_name).header()
    except Exception as exc:
        ctx.logs.operator.printf(f"*** attach: cannot read objects ({exc})\n")
        return
    for keyword in keywords:
        if keyword in sample:
            setattr(obj, keyword, sample[keyword].value)
    prefix = ctx.settings.str("UIDPrefix")
    for keyword in new_lower:
        setattr(obj, keyword, gen_uid(prefix, 7))
    if hasattr(obj, "file_meta"):
        obj.file_meta.MediaStorageSOPInstanceUID = obj.SOPInstanceUID
    try:
        stored = Ingest(ctx.config, ctx.logs).store(
            Encoded.from_dataset(obj, str(obj.file_meta.TransferSyntaxUID)), ctx.db())
    except StoreFailed as exc:
        ctx.logs.operator.printf(f"*** attach: {exc}\n")
        return
    ctx.logs.operator.printf(f"Attached {obj_name} to {sample_name} as {stored.path}\n")


@command("attachanytopatient")
def attach_patient(ctx: CommandContext, args: str) -> None:
    _attach(ctx, args, _PATIENT, ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"))


@command("attachanytostudy")
def attach_study(ctx: CommandContext, args: str) -> None:
    _attach(ctx, args, _STUDY, ("SeriesInstanceUID", "SOPInstanceUID"))


@command("attachanytoseries")
def attach_series(ctx: CommandContext, args: str) -> None:
    _attach(ctx, args, _SERIES, ("SOPInstanceUID",))


@command("attachrtplantortstruct")
def attach_plan(ctx: CommandContext, args: str) -> None:
    """Attach an RTPLAN to an RTSTRUCT: patient and study of the structure set, a new
    series and SOP UID, and a ReferencedStructureSetSequence to it."""
    from pydicom.sequence import Sequence

    from ..store.formats import Encoded, read_file
    from ..store.ingest import Ingest, StoreFailed
    from ..uids import gen_uid
    plan_name, struct_name = _parts(args, 2)
    try:
        plan, struct = read_file(plan_name).dataset(), read_file(struct_name).header()
    except Exception as exc:
        ctx.logs.operator.printf(f"*** attach: cannot read objects ({exc})\n")
        return
    for keyword in _STUDY:
        if keyword in struct:
            setattr(plan, keyword, struct[keyword].value)
    prefix = ctx.settings.str("UIDPrefix")
    plan.SeriesInstanceUID, plan.SOPInstanceUID = gen_uid(prefix, 7), gen_uid(prefix, 7)
    ref = Dataset()
    ref.ReferencedSOPClassUID = struct.SOPClassUID
    ref.ReferencedSOPInstanceUID = struct.SOPInstanceUID
    plan.ReferencedStructureSetSequence = Sequence([ref])
    if "FrameOfReferenceUID" in struct:
        plan.FrameOfReferenceUID = struct.FrameOfReferenceUID
    plan.file_meta.MediaStorageSOPInstanceUID = plan.SOPInstanceUID
    try:
        stored = Ingest(ctx.config, ctx.logs).store(
            Encoded.from_dataset(plan, str(plan.file_meta.TransferSyntaxUID)), ctx.db())
    except StoreFailed as exc:
        ctx.logs.operator.printf(f"*** attach: {exc}\n")
        return
    ctx.logs.operator.printf(f"Attached {plan_name} to {struct_name} as {stored.path}\n")


# -- clonedb, modifypatid ----------------------------------------------------------------------

@command("clonedb")
def clonedb_cmd(ctx: CommandContext, args: str) -> str | None:
    """``clonedb:AE``: copy every patient AE holds into this server (``CloneDB``, a test helper
    of the original): a PATIENT-level C-FIND, then a C-MOVE of each patient to ourselves
    (move originator message ID 0xFBAD, as every fetch of the server itself)."""
    clone(ctx, args.strip())
    return None


def clone(ctx: CommandContext, ae: str) -> int:
    """Patients moved here from ``ae`` (-1 when it is unknown or cannot be queried)."""
    from ..net import scu
    address = ctx.config.amap.lookup(ae)
    if not ae or address is None:
        ctx.logs.operator.printf(f"*** clonedb: AE not found: {ae}\n")
        return -1
    ident = Dataset()
    ident.QueryRetrieveLevel = "PATIENT"
    ident.PatientID = ""
    try:
        patients = scu.find(ctx.own_ae, address, ident, "patient")
    except (scu.AssociationFailed, OSError) as exc:
        ctx.logs.operator.printf(f"*** clonedb: could not connect to {ae} ({exc})\n")
        return -1
    done = 0
    for patid in dict.fromkeys(str(p.get("PatientID", "")) for p in patients):
        move = Dataset()
        move.QueryRetrieveLevel = "PATIENT"
        move.PatientID = patid
        try:
            result = scu.move(ctx.own_ae, address, ctx.own_ae, move, "patient", 0xFBAD)
        except (scu.AssociationFailed, OSError) as exc:
            ctx.logs.operator.printf(f"*** clonedb: move of patient {patid} failed ({exc})\n")
            continue
        done += 1
        ctx.logs.operator.printf(f"clonedb: patient {patid}: {result.completed} image(s)\n")
    ctx.logs.operator.printf(f"Cloned {done} patient(s) from {ae}\n")
    return done


@command("modifypatid")
def modifypatid_cmd(ctx: CommandContext, args: str) -> str | None:
    """``modifypatid:patid,file``: the stored file moves to patient ``patid`` (``ModifyPATIDofImageFile``
    with ``ModifyPATIDofDDO``): new study, series and SOP instance UIDs through UIDMODS (the same
    new study for every image of the old one), stored, then the original row and file removed."""
    patid, name = _parts(args, 2)
    modify_patient_id(ctx, patid.strip(), name.strip())
    return None


def modify_patient_id(ctx: CommandContext, patid: str, name: str, keep: bool = False) -> bool:
    """True when the object of ``name`` is now stored for ``patid``; on failure nothing is
    removed. ``keep`` (``-fk``): the original stays too."""
    from ..db import DatabaseError
    from ..store.formats import Encoded, read_file
    from ..store.ingest import Ingest, StoreFailed
    from ..store.removal import remove_stored_file
    if not patid or not name:
        ctx.logs.operator.printf("*** modifypatid: use modifypatid:patid,file\n")
        return False
    try:
        original = read_file(name)
        ds = original.dataset()
    except Exception as exc:
        ctx.logs.operator.printf(f"*** modifypatid: cannot read {name} ({exc})\n")
        return False
    sop, old = str(ds.get("SOPInstanceUID", "")), str(ds.get("PatientID", "")).rstrip()
    db = ctx.db()
    try:
        row = db.get_file(sop, old or None)
        for keyword, kind in (("StudyInstanceUID", "StudyUID"), ("SeriesInstanceUID", "SeriesUID"),
                              ("SOPInstanceUID", "SOPInstanceUID")):
            if keyword in ds:
                setattr(ds, keyword, db.change_uid(str(getattr(ds, keyword)), kind))
    except DatabaseError as exc:
        ctx.logs.operator.printf(f"*** modifypatid: database: {exc}\n")
        return False
    ds.PatientID = patid
    if getattr(ds, "file_meta", None) is not None:
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    try:
        stored = Ingest(ctx.config, ctx.logs).store(Encoded.from_dataset(ds, original.transfer_syntax), db,
                                                    "modifypatid", "modifypatid")
    except StoreFailed as exc:
        ctx.logs.operator.printf(f"*** modifypatid: {name} not changed ({exc})\n")
        return False
    if row is not None and not keep:
        try:
            db.delete_image(sop, row.patient_id or old)
        except DatabaseError as exc:
            ctx.logs.operator.printf(f"*** modifypatid: the original of {name} stays indexed ({exc})\n")
        else:
            remove_stored_file(ctx.settings, row.object_file, row.device)
    ctx.logs.operator.printf(f"Modified patient ID to: {patid}: {stored.path}\n")
    return True
