"""``wadorequest:`` and ``wadoparse:`` (conquest-protocol.md §5.7), the server side of
Conquest's WADO-URI for PHP (``wado.php``), CGI mode and Ladle's ``WADO.lua``.

Replies have the original's header blocks (checked against 1.5.0e):

* ``image/gif`` → ``Content-type: image/gif`` + GIF (multi-frame objects: animated at 5
  frames/s); ``image/bmp`` → BMP (single-frame objects only); ``image/jpeg``, ``image/png``,
  ``image/jp2`` → ``Content-type: image/jpeg`` + JPEG at quality 95 (the quality field is
  read and ignored, as there); ``region`` (x start/x end/y start/y end fractions) crops
  first; the size is the larger of rows/cols, 1600 when both are 0; drawing is
  :func:`dgate.codec.render`; a negative frame with BMP/JPEG draws the series as a strip
  of ``-frame`` columns;
* ``application/dicom`` → the file recompressed by ``transferSyntax`` (``.50``→j3, ``.51``→j4,
  ``.53``→j5, ``.55``/``.70``→j1, ``.57``→j2, ``.80``→js, ``.81``→j7, ``.90``→jk, ``.91``→jl;
  ``n0`` leaves the pixels, ``n1``–``n4`` NKI compress, both drop sequences; anything else
  uncompressed) with the ``Content-type``/``Content-Disposition``/``Content-length`` block;
* ``text/plain``, ``text/html`` → the header dump; ``video/mpeg`` (multi-frame) → the header
  line only.

``anonymize`` runs Conquest's anonymizer through the converter engine after the crop and
before any of these (``yes`` → ``call anonymize_script.cq``, other values →
``lua/anonymize_script.lua(value)``, :func:`dgate.web.wadoimage.anonymize`); when that
script is not installed, or refuses the object, it is logged and there is no reply. The
series strip is drawn before it, as in 1.5.0e.

Empty or unknown contentType, or an object not found → no reply. ``bridge`` (loading the
object from another AE) is not supported: logged, no reply.
"""
from __future__ import annotations

from urllib.parse import parse_qsl

from pydicom.dataset import Dataset

from .. import codec
from ..codec.pixels import transfer_syntax
from ..store.dump import dump, dump_file
from ..store.formats import EXPLICIT_LE, UNCOMPRESSED, Encoded, part10_bytes, read_file
from . import command
from .context import CommandContext
from .db_cmds import locate_object

DICOM_SYNTAX_CODES = {"1.2.840.10008.1.2.4.50": "j3", "1.2.840.10008.1.2.4.51": "j4", "1.2.840.10008.1.2.4.53": "j5",
                      "1.2.840.10008.1.2.4.55": "j1", "1.2.840.10008.1.2.4.57": "j2", "1.2.840.10008.1.2.4.70": "j1",
                      "1.2.840.10008.1.2.4.80": "js", "1.2.840.10008.1.2.4.81": "j7", "1.2.840.10008.1.2.4.90": "jk",
                      "1.2.840.10008.1.2.4.91": "jl"}
GIF_HEAD = b"Content-type: image/gif\nAccess-Control-Allow-Origin: *\n\n"
BMP_HEAD = b"Content-type: image/bmp\nAccess-Control-Allow-Origin: *\n\n"
JPEG_HEAD = b"Content-type: image/jpeg\nAccess-Control-Allow-Origin:*\n\n"
STRIP_JPEG_HEAD = b"Content-type: image/jpeg\nAccess-Control-Allow-Origin: *\n\n"
MPEG_HEAD = b"Content-type: video/mpeg\nAccess-Control-Allow-Origin:*\n\n"


def dicom_header(size: int) -> bytes:
    """The application/dicom header block; a space keeps it even, as the original does."""
    head = (f'Content-type: application/dicom\nContent-Disposition: attachment; filename="file.dcm"\n'
            f"Content-length: {size}\nAccess-Control-Allow-Origin: *")
    if (len(head) + 2) % 2:
        head += " "
    return (head + "\n\n").encode("latin-1")


def parse_wado_query(query: str) -> list[str]:
    """``wadoparse:`` → the ``wadorequest`` fields (obj, l/w/f/q, rows/cols, region, type,
    syntax, anonymize, annotation, bridge)."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        params.setdefault(name, value)

    def num(name: str) -> int:
        text = params.get(name, "").strip()
        sign = -1 if text.startswith("-") else 1
        digits = ""
        for ch in text.lstrip("+-"):
            if not ch.isdigit():
                break
            digits += ch
        return sign * int(digits) if digits else 0

    obj = f"{params.get('studyUID', '')}\\{params.get('seriesUID', '')}\\{params.get('objectUID', '')}"
    lwfq = f"{num('windowCenter')}/{num('windowWidth')}/{num('frameNumber')}/{num('imageQuality')}"
    return [obj, lwfq, f"{num('rows')}/{num('columns')}", params.get("region", "").replace(",", "/"),
            params.get("contentType", ""), params.get("transferSyntax", ""), params.get("anonymize", ""), "", ""]


def scan_ints(text: str, count: int) -> list[int]:
    """``sscanf(text, "%d/%d/…")``: the numbers up to the first that does not parse, 0 after."""
    out: list[int] = []
    rest = text
    for index in range(count):
        stripped = rest.lstrip()
        sign = -1 if stripped[:1] == "-" else 1
        body = stripped[1:] if stripped[:1] in "+-" and stripped[:1] else stripped
        digits = ""
        for ch in body:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        out.append(sign * int(digits))
        rest = body[len(digits):]
        if index < count - 1:
            if not rest.startswith("/"):
                break
            rest = rest[1:]
    return out + [0] * (count - len(out))


def _load(ctx: CommandContext, spec: str) -> Dataset | None:
    path = locate_object(ctx, spec)
    if path is None:
        return None
    try:
        return codec.readable(read_file(path).dataset())
    except (OSError, ValueError, codec.CodecError) as exc:
        ctx.logs.operator.printf(f"***wadorequest: could not load {path}: {exc}\n")
        return None


def _strip(ctx: CommandContext, obj: str, kind: str, level: int, window: int, columns: int) -> bytes | None:
    """``ImageStripforSeries``: the images of the series named by ``study\\series\\sop``."""
    from ..web import wadoimage
    parts = obj.split("\\")
    if len(parts) < 3:
        return None
    datasets = []
    for item in ctx.db().instance_files(parts[0], parts[1]):
        ds = _load(ctx, f"{item.study_uid}\\{item.series_uid}\\{item.sop_uid}")
        if ds is not None:
            datasets.append(ds)
    try:
        return wadoimage.strip(datasets, kind, level, window, columns)
    except codec.CodecError as exc:
        ctx.logs.operator.printf(f"***wadorequest: strip failed: {exc}\n")
        return None


def _dicom(ctx: CommandContext, ds: Dataset, syntax: str) -> bytes:
    from .image_cmds import object_bytes
    quality = ctx.settings.int("LossyQuality") or 95
    if syntax == "n0" or syntax.startswith("n"):
        if syntax != "n0":
            ds = codec.recompress(ds, syntax, lossy_quality=quality, log=ctx.logs.operator.printf)
        for elem in [e for e in ds if e.VR == "SQ"]:
            del ds[elem.tag]                         # SimplifyDicom
        return object_bytes(ds, "file.dcm")
    code = DICOM_SYNTAX_CODES.get(syntax)
    if code is not None:
        ds = codec.recompress(ds, code, lossy_quality=quality, log=ctx.logs.operator.printf)
        return object_bytes(ds, "file.dcm")
    if transfer_syntax(ds) not in UNCOMPRESSED:
        codec.decompress(ds)
    out = Encoded.from_dataset(ds, EXPLICIT_LE)
    return part10_bytes(out, str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", "")))


def wado_reply(ctx: CommandContext, fields: list[str]) -> bytes | None:
    from ..web import wadoimage
    fields = fields + [""] * (10 - len(fields))
    obj, lwfq, size_text, region, ctype, syntax, anonymize, _annotation, bridge, outfile = fields[:10]
    level, window, frame, _quality = scan_ints(lwfq, 4)
    rows, cols = scan_ints(size_text, 2)
    size = max(rows, cols) or wadoimage.CONQUEST_SIZE
    reply: bytes | None = None
    if ctype in ("image/bmp", "image/jpeg") and frame < 0:
        kind = "bmp" if ctype == "image/bmp" else "jpg"
        image = _strip(ctx, obj, kind, level, window, -frame)
        reply = (BMP_HEAD if kind == "bmp" else STRIP_JPEG_HEAD) + image if image is not None else None
        return _deliver(reply, outfile)
    if bridge:
        ctx.logs.operator.printf("*** wadorequest: bridge (loading from another AE) is not supported; no reply\n")
        return None
    known = ("image/gif", "image/bmp", "image/jpeg", "image/png", "image/jp2", "application/dicom", "video/mpeg",
             "text/plain", "text/html")
    if ctype not in known:
        return None
    if ctype in ("text/plain", "text/html") and not region and not anonymize:
        path = locate_object(ctx, obj)
        if path is None:
            return None
        return _deliver(_text_reply(ctype, dump_file(path, ctx.config.dictionary)), outfile)
    ds = _load(ctx, obj)
    if ds is None:
        return None
    frames = wadoimage.number_of_frames(ds)
    sx, ex, sy, ey = (scan_floats(region, 4) if region else (0.0, 0.0, 0.0, 0.0))
    if region:
        wadoimage.crop(ds, (sx, ex, sy, ey))
    if anonymize:
        try:
            ds = wadoimage.anonymize(ds, anonymize, ctx.config, ctx.logs)
        except wadoimage.WadoError as exc:
            ctx.logs.operator.printf(f"*** wadorequest: {exc}\n")
            return None
    try:
        if ctype == "image/gif":
            reply = GIF_HEAD + wadoimage.draw(ds, wadoimage.Drawing(
                "gif", size, level, window, wadoimage.ANIMATED if frames >= 2 else frame))
        elif ctype == "image/bmp":
            reply = BMP_HEAD + wadoimage.draw(ds, wadoimage.Drawing("bmp", size, level, window, frame)) \
                if frames < 2 else None
        elif ctype in ("image/jpeg", "image/png", "image/jp2"):
            reply = JPEG_HEAD + wadoimage.draw(ds, wadoimage.Drawing("jpg", size, level, window, frame))
        elif ctype == "application/dicom":
            data = _dicom(ctx, ds, syntax)
            reply = dicom_header(len(data)) + data
        elif ctype == "video/mpeg":
            reply = MPEG_HEAD if frames >= 2 else None
        else:
            reply = _text_reply(ctype, dump(ds, ctx.config.dictionary))
    except codec.CodecError as exc:
        ctx.logs.operator.printf(f"***wadorequest: {ctype}: {exc}\n")
        return None
    return _deliver(reply, outfile)


def scan_floats(text: str, count: int) -> tuple[float, ...]:
    """``sscanf(text, "%f/%f/…")`` for the region fields (0 where missing)."""
    import re
    out: list[float] = []
    for part in text.split("/")[:count]:
        match = re.match(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", part)
        if not match:
            break
        out.append(float(match.group()))
    return tuple(out + [0.0] * (count - len(out)))


def _text_reply(ctype: str, text: str) -> bytes:
    """The header dump reply; text/plain gets the original's trailing space (to even length)."""
    if ctype == "text/plain":
        reply = b"Content-type: text/plain\nAccess-Control-Allow-Origin: *\n\n" + \
            text.encode("latin-1", "replace") + b" "
        return reply[:-1] if len(reply) % 2 else reply
    return b"Content-type: text/html\nAccess-Control-Allow-Origin:*\n\n" + text.encode("latin-1", "replace")


def _deliver(reply: bytes | None, outfile: str) -> bytes | None:
    if reply is None:
        return None
    if outfile:
        with open(outfile, "wb") as handle:
            handle.write(reply)
        return None
    return reply



@command("wadorequest")
def wadorequest(ctx: CommandContext, args: str) -> bytes | None:
    return wado_reply(ctx, args.split(",", 9))


@command("wadoparse")
def wadoparse(ctx: CommandContext, args: str) -> bytes | None:
    return wado_reply(ctx, parse_wado_query(args))
