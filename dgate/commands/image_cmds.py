"""Image conversion commands (conquest-protocol.md §5.7): ``convert_to_gif/bmp/jpg``,
``convert_to_dicom``, ``convert_to_json``, ``compress``, ``uncompress``,
``extract_frames``, ``testcompress``.

Objects are named as ``LoadForGUI`` names them (``patid:sop`` and friends, or a file).
Every object read here goes through :func:`dgate.codec.readable`, so NKI compressed files
are converted like any other. Work is counted in the process-wide counters.
"""
from __future__ import annotations

import copy
import math
import warnings
from pathlib import Path

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import UID

from .. import codec
from ..codec import resize
from ..codec.pixels import transfer_syntax
from ..config.keys import atoi
from ..store.formats import BadObject, Encoded, part10_bytes, v2_bytes, write_atomic
from . import command
from .context import CommandContext
from .db_cmds import load_for_gui, locate_object


def _counters():
    from ..store.ingest import counters
    return counters


def _load(ctx: CommandContext, spec: str) -> Dataset | None:
    ds = load_for_gui(ctx, spec.strip())
    if ds is None:
        return None
    try:
        return codec.readable(ds, _counters())
    except codec.CodecError as exc:
        ctx.logs.operator.printf(f"***[{spec}] {exc}\n")
        return None


def _recompress(ctx: CommandContext, ds: Dataset, code: str) -> Dataset:
    return codec.recompress(ds, code, lossy_quality=ctx.settings.int("LossyQuality"), counters=_counters(),
                            log=ctx.logs.operator.printf)


def object_bytes(ds: Dataset, name: str) -> bytes:
    """The file content ``SaveDICOMDataObject`` writes for ``name``: a ``.v2`` raw
    implicit-LE dump (uncompressed data only), otherwise Part 10 in the object's syntax."""
    if name.lower().endswith(".v2"):
        return v2_bytes(ds)
    encoded = Encoded.from_dataset(ds, transfer_syntax(ds))
    return part10_bytes(encoded, str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", "")))


def _save(ctx: CommandContext, ds: Dataset, out: str) -> bool:
    if not out:
        ctx.logs.operator.printf("***no output file given\n")
        return False
    try:
        write_atomic(Path(out), object_bytes(ds, out))
        return True
    except BadObject:
        ctx.logs.operator.printf("Recompress: cannot rewrite jpeg/rle image in v2 format\n")
    except OSError as exc:
        ctx.logs.operator.printf(f"***could not write {out}: {exc}\n")
    return False


# -- images ---------------------------------------------------------------------------------
def _level_window_frame(text: str | None) -> tuple[int, int, int]:
    """``level/window/frame`` as the original reads it (``(int)(atof(x)+0.5)``, ``atoi``)."""
    parts = (text if text is not None else "0/0").split("/")

    def rounded(value: str) -> int:
        return math.trunc(_atof(value) + 0.5)
    level = rounded(parts[0]) if parts else 0
    window = rounded(parts[1]) if len(parts) > 1 else 0
    frame = atoi(parts[2]) if len(parts) > 2 else 0
    return level, window, frame


def _atof(text: str) -> float:
    import re
    match = re.match(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text)
    return float(match.group()) if match else 0.0


_CONTENT = {"gif": "image/gif", "bmp": "image/bmp", "jpg": "image/jpeg"}


def _convert_image(kind: str):
    def handler(ctx: CommandContext, args: str) -> bytes | None:
        spec, comma, rest = args.partition(",")
        parts: list[str | None] = list(rest.split(",", 2)) if comma else []
        size_text, out, lwf = (parts + [None, None, None])[:3]
        ds = _load(ctx, spec)
        if ds is None:
            return None
        size = atoi(size_text) if size_text is not None else 256
        level, window, frame = _level_window_frame(lwf)
        try:
            image = codec.render(ds, kind, size=size, level=level, window=window, frame=frame, counters=_counters())
        except codec.CodecError as exc:
            ctx.logs.operator.printf(f"***[convert_to_{kind}] {exc}\n")
            return None
        out = (out or "").strip()
        if out in ("", "binary"):
            return image
        if out == "cgi":
            return f"Content-type: {_CONTENT[kind]}\n\n".encode() + image
        try:
            write_atomic(Path(out), image)
        except OSError as exc:
            ctx.logs.operator.printf(f"***could not write {out}: {exc}\n")
        return None
    return handler


for _kind in ("gif", "bmp", "jpg"):
    command(f"convert_to_{_kind}")(_convert_image(_kind))


def dicom_reply(data: bytes) -> bytes:
    """A file sent as ``application/dicom`` (ServerChild, conquest-protocol.md §4.5)."""
    header = (f"Content-type: application/dicom\nContent-Disposition: attachment; filename=\"file.dcm\"\n"
              f"Content-length: {len(data)}\nAccess-Control-Allow-Origin: *")
    header += " \n\n" if (len(header) + 2) % 2 else "\n\n"
    return header.encode("latin-1") + data


def _frame_size_code(ctx: CommandContext, ds: Dataset, size_text: str | None, code: str | None,
                     frame_text: str | None) -> Dataset:
    if frame_text is not None:
        resize.extract_frames(ds, atoi(frame_text))
    size = atoi(size_text) if size_text else 0
    if size and resize.needs_downsize(ds, size):
        codec.decompress(ds, _counters())
        resize.downsize(ds, size, _counters())
    return _recompress(ctx, ds, code if code is not None else "un")


@command("convert_to_dicom")
def convert_to_dicom(ctx: CommandContext, args: str) -> bytes | None:
    """``obj[,size[,compression[,frame]]]`` → the Part-10 file (default ``un``)."""
    spec, comma, rest = args.partition(",")
    parts: list[str | None] = list(rest.split(",", 2)) if comma else []
    size_text, code, frame_text = (parts + [None, None, None])[:3]
    ds = _load(ctx, spec)
    if ds is None:
        return None
    try:
        ds = _frame_size_code(ctx, ds, size_text, code, frame_text)
        return dicom_reply(object_bytes(ds, "file.dcm"))
    except codec.CodecError as exc:
        ctx.logs.operator.printf(f"***[convert_to_dicom] {exc}\n")
        return None


@command("convert_to_json")
def convert_to_json(ctx: CommandContext, args: str) -> bytes | None:
    """``obj,size,compression,frame,pixels``: Conquest's JSON of the object, made as 1.5.0e
    makes it: ``Data:Serialize(true, pixels)`` run by Lua in the command's state (the
    same code as ``-js``/``-jj`` and scripts). Frame, size and compression apply only when
    the fifth field is present; an empty compression leaves the pixel data as it is."""
    spec, _, rest = args.partition(",")
    fields = rest.split(",", 3) if _ else []
    ds = _load(ctx, spec)
    if ds is None:
        return None
    pixels = len(fields) >= 4 and atoi(fields[3]) != 0
    try:
        if len(fields) >= 4:
            ds = _frame_size_code(ctx, ds, fields[0], fields[1].strip(), fields[2])
    except codec.CodecError as exc:
        ctx.logs.operator.printf(f"***[convert_to_json] {exc}\n")
        return None
    _file_meta(ctx, spec, ds)
    from ..luabind.handles import Handle
    from .lua_cmds import association_state
    state = association_state(ctx)
    text = state.run(f"return Data:Serialize(true, {'true' if pixels else 'false'})", None, Handle(ds, with_meta=True))
    return None if text is None else text.encode("latin-1", "replace")


def _file_meta(ctx: CommandContext, spec: str, ds: Dataset) -> None:
    """Give ``ds`` the meta group of its file (the original's loaded object keeps it), with
    the transfer syntax the object now has."""
    from pydicom.filereader import read_file_meta_info

    path = locate_object(ctx, spec.strip())
    if path is None:
        return
    try:
        meta = read_file_meta_info(path)
    except Exception:
        return                                   # a .v2 dump has no meta group
    meta.TransferSyntaxUID = UID(transfer_syntax(ds))
    ds.file_meta = meta


# -- compression ------------------------------------------------------------------------------
@command("uncompress")
def uncompress(ctx: CommandContext, args: str) -> None:
    """``obj,out``: save the object decompressed."""
    spec, _, out = args.partition(",")
    ds = _load(ctx, spec)
    if ds is None:
        return None
    try:
        _save(ctx, _recompress(ctx, ds, "un"), out.strip())
    except codec.CodecError as exc:
        ctx.logs.operator.printf(f"***[uncompress] {exc}\n")
    return None


@command("compress")
def compress(ctx: CommandContext, args: str) -> None:
    """``obj,mode,out``: save the object recompressed with ``mode``."""
    spec, _, rest = args.partition(",")
    mode, _, out = rest.partition(",")
    ds = _load(ctx, spec)
    if ds is None:
        return None
    try:
        if mode:
            ds = _recompress(ctx, ds, mode.strip())
        if out.strip():
            _save(ctx, ds, out.strip())
    except codec.CodecError as exc:
        ctx.logs.operator.printf(f"***[compress] {exc}\n")
    return None


@command("extract_frames")
def extract_frames(ctx: CommandContext, args: str) -> None:
    """``file,out,first,last``: save frames first..last. The original reads the file name
    two characters late; a name that only works that way is still accepted."""
    spec, _, rest = args.partition(",")
    out, _, rest = rest.partition(",")
    first_text, _, last_text = rest.partition(",")
    ds = _load(ctx, spec)
    if ds is None and len(spec) > 2:
        ds = _load(ctx, spec[2:])
    if ds is None:
        return None
    first = atoi(first_text)
    last = atoi(last_text) if last_text else first
    resize.extract_frames(ds, first, last)
    _save(ctx, ds, out.strip())
    return None


TEST_MODES = ("un", "as", "n1", "n2", "n3", "n4", "j1", "j2", "j3", "j4", "j5", "j6", "jk", "jl", "k1", "k2",
              "k4", "k8")


@command("testcompress")
def testcompress(ctx: CommandContext, args: str) -> None:
    """Enter the object in the server once per mode and file name syntax 3 and 4: as it
    is (InstanceNumber ``org``), compressed (``mode``), decompressed again (``mode_un``)
    and recompressed (``mode_un_mode``), each with a new SOP Instance UID."""
    from ..store.ingest import Ingest, StoreFailed
    from ..uids import gen_uid

    base = _load(ctx, args)
    if base is None:
        ctx.logs.operator.printf(f"***[TestCompress] {args} -FAILED: Error on Load\n")
        return None
    prefix = ctx.settings.str("UIDPrefix")
    db = ctx.db()
    for syntax in (3, 4):
        ingest = Ingest(_with_syntax(ctx.config, str(syntax)), ctx.logs)

        def store(ds: Dataset, label: str, note: str) -> Dataset:
            ds.SOPInstanceUID = gen_uid(prefix)
            text = label.encode("ascii") + (b" " if len(label) % 2 else b"")
            # the label is not a number: keep it as text, as the original does
            ds[0x00200013] = RawDataElement(Tag(0x00200013), "IS", len(text), text, 0, False, True)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)       # the label is not a valid IS
                    stored = ingest.store(Encoded.from_dataset(ds, transfer_syntax(ds)), db, compression="as")
                ctx.logs.operator.printf(f"Added file: {stored.path} ({note})\n")
            except StoreFailed as exc:
                ctx.logs.operator.printf(f"{exc}\n")
            return ds

        for mode in TEST_MODES:
            ds = store(copy.deepcopy(base), "org", f"filename syntax {syntax}")
            try:
                ds = store(_recompress(ctx, ds, mode), mode, f"compression {mode}, syntax {syntax}")
                ds = store(_recompress(ctx, ds, "un"), f"{mode}_un", f"compression {mode}_un, syntax {syntax}")
                store(_recompress(ctx, ds, mode), f"{mode}_un_{mode}",
                      f"compression {mode}_un_{mode}, syntax {syntax}")
            except codec.CodecError as exc:
                ctx.logs.operator.printf(f"***[TestCompress] {mode}: {exc}\n")
    return None


def _with_syntax(config, syntax: str):
    """The configuration with FileNameSyntax replaced (for testcompress)."""
    from ..config.keys import Settings

    class Override(Settings):
        def raw(self, name: str) -> str | None:
            return syntax if name.lower() == "filenamesyntax" else super().raw(name)

    clone = copy.copy(config)
    clone.settings = Override(config.ini, config.base_dir)
    return clone
