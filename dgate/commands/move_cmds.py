"""Move commands (conquest-protocol.md §5.4): a C-MOVE from a source AE to a destination.

``(local)`` or the own AE as source means this server (127.0.0.1 and its port). The
level is IMAGE with a SOP UID, SERIES with a series UID or a date, STUDY with a study
UID (or accession number), else PATIENT; patient root when only the patient is given,
study root otherwise. The message ID tells which command sent it (6 movepatient,
7 movestudy, 7777 moveaccession, 8 movestudies, 9 moveseries, 10 move). Reply: ``0``, or
``1 Move failed from <src> to <dst>``.
"""
from __future__ import annotations

from pydicom.dataset import Dataset

from ..config.acrnema import Address
from ..net import scu
from . import command
from .context import CommandContext, split_patient


def do_move(ctx: CommandContext, source: str, destination: str, message_id: int, patid: str = "",
            study: str = "", series: str = "", sop: str = "", date: str = "", accession: bool = False) -> str:
    failed = f"1 Move failed from {source} to {destination}"
    address: Address | None
    if source in ("(local)", ctx.own_ae):
        address = Address(ctx.own_ae, "127.0.0.1", ctx.port, "un")
    else:
        address = ctx.config.amap.lookup(source)
        if address is None:
            ctx.logs.operator.printf(f"***dicommove: AE not found: {source}\n")
            return failed
    ident = Dataset()
    if sop:
        level = "IMAGE"
    elif date or series:
        level = "SERIES"
    elif study:
        level = "STUDY"
    else:
        level = "PATIENT"
    ident.QueryRetrieveLevel = level
    if patid:
        ident.PatientID = patid
    if study and accession:
        ident.AccessionNumber = study
    elif study:
        ident.StudyInstanceUID = study
    if series:
        ident.SeriesInstanceUID = series
    if sop:
        ident.SOPInstanceUID = sop
    if date:
        ident.StudyDate = date
    model = "patient" if level == "PATIENT" else "study"
    try:
        result = scu.move(ctx.own_ae, address, destination, ident, model, message_id)
    except (scu.AssociationFailed, OSError) as exc:
        ctx.logs.operator.printf(f"***dicommove: could not connect to AE: {source} ({exc})\n")
        return failed
    if not result.ok:
        ctx.logs.operator.printf(f"***dicommove: remote DICOM error {result.status:#06x}\n")
        return failed
    return "0"


def _parts(args: str, n: int) -> list[str]:
    return (args.split(",") + [""] * n)[:n]


@command("movepatient")
def movepatient(ctx: CommandContext, args: str) -> str:
    src, dst, patid = _parts(args, 3)
    return do_move(ctx, src, dst, 6, patid=patid)


@command("movestudy")
def movestudy(ctx: CommandContext, args: str) -> str:
    src, dst, rest = _parts(args, 3)
    patid, study = split_patient(rest)
    return do_move(ctx, src, dst, 7, patid=patid, study=study)


@command("moveaccession")
def moveaccession(ctx: CommandContext, args: str) -> str:
    src, dst, rest = _parts(args, 3)
    patid, accession = split_patient(rest)
    return do_move(ctx, src, dst, 7777, patid=patid, study=accession, accession=True)


@command("movestudies")
def movestudies(ctx: CommandContext, args: str) -> str:
    src, dst, date = _parts(args, 3)
    return do_move(ctx, src, dst, 8, date=date)


@command("moveseries")
def moveseries(ctx: CommandContext, args: str) -> str:
    src, dst, rest, study = _parts(args, 4)
    patid, series = split_patient(rest)
    return do_move(ctx, src, dst, 9, patid=patid, series=series, study=study)


@command("move")
def move(ctx: CommandContext, args: str) -> str | None:
    if args.count(",") < 2:
        return None
    src, dst, patid, study, series, sop = _parts(args, 6)
    return do_move(ctx, src, dst, 10, patid=patid, study=study, series=series, sop=sop)
