"""``wadorequest:`` and ``wadoparse:`` (conquest-protocol.md §5.7), the server side of
Conquest's WADO-URI for PHP (``wado.php``), CGI mode and Ladle's ``WADO.lua``.

Replies have the original's header blocks (byte for byte, checked against 1.5.0e):
``application/dicom`` → ``Content-type``/``Content-Disposition``/``Content-length``/
``Access-Control-Allow-Origin`` + the Part 10 file (recompressed for ``transferSyntax`` as
1.5.0e does); ``image/gif`` (animated for multi-frame objects), ``image/bmp`` (single
frames) and ``image/jpeg`` (also for ``image/png`` and ``image/jp2``, quality 95) rendered
by the codec; ``text/plain`` and ``text/html`` → the header dump. ``region``
(xstart/xend/ystart/yend fractions) crops and ``anonymize`` runs the anonymizer before any
of them (:mod:`dgate.web.wadoimage`). Empty or unknown contentType, or an object not found
→ no reply. Not done: ``bridge`` (loading from another AE) and the experimental series
strips of negative frame numbers (logged, no reply).
"""
from __future__ import annotations

from urllib.parse import parse_qsl

from pydicom.filereader import read_dataset

from ..store.dump import dump
from . import command
from .context import CommandContext
from .db_cmds import locate_object

IMAGE_TYPES = ("image/gif", "image/bmp", "image/jpeg", "image/png", "image/jp2", "video/mpeg")


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


_IMAGES = {"image/gif": ("gif", "Content-type: image/gif\nAccess-Control-Allow-Origin: *\n\n"),
           "image/bmp": ("bmp", "Content-type: image/bmp\nAccess-Control-Allow-Origin: *\n\n"),
           "image/jpeg": ("jpg", "Content-type: image/jpeg\nAccess-Control-Allow-Origin:*\n\n")}
_IMAGES["image/png"] = _IMAGES["image/jp2"] = _IMAGES["image/jpeg"]


def _numbers(text: str, count: int) -> list[int]:
    """``%d/%d/…`` as sscanf reads it (missing or bad fields are 0)."""
    out = []
    for part in (text or "").split("/")[:count]:
        part = part.strip()
        sign = -1 if part.startswith("-") else 1
        digits = ""
        for ch in part.lstrip("+-"):
            if not ch.isdigit():
                break
            digits += ch
        out.append(sign * int(digits) if digits else 0)
    return out + [0] * (count - len(out))


def _fractions(text: str) -> list[float]:
    out = []
    for part in text.split("/")[:4]:
        try:
            out.append(float(part))
        except ValueError:
            out.append(0.0)
    return out + [0.0] * (4 - len(out))


def wado_reply(ctx: CommandContext, fields: list[str]) -> bytes | None:
    from ..web import wadoimage
    fields = fields + [""] * (10 - len(fields))
    obj, lwfq, size_text, region, ctype, syntax, anonymize, _annotation, bridge, outfile = fields[:10]
    if ctype not in _IMAGES and ctype not in ("application/dicom", "text/plain", "text/html", "video/mpeg"):
        return None
    level, window, frame, _quality = _numbers(lwfq, 4)
    rows, columns = _numbers(size_text, 2)
    size = max(rows, columns) or 1600
    if bridge:
        ctx.logs.operator.printf("*** wadorequest: bridge (loading from another AE) is not supported; no reply\n")
        return None
    if frame < 0 and ctype in ("image/bmp", "image/jpeg"):
        ctx.logs.operator.printf("*** wadorequest: series strips (negative frameNumber) are not supported\n")
        return None
    path = locate_object(ctx, obj)
    if path is None:
        return None
    try:
        ds = wadoimage.load(path)
        if region:
            x1, x2, y1, y2 = _fractions(region)
            wadoimage.crop(ds, x1, x2, y1, y2)
        if anonymize:
            ds = wadoimage.anonymize(ds, anonymize, ctx.config, ctx.logs)
        reply = _reply(ctx, ds, path, ctype, syntax, size, level, window, frame)
    except wadoimage.WadoError as exc:
        ctx.logs.operator.printf(f"*** wadorequest: {exc}\n")
        return None
    if reply is None:
        return None
    if outfile:
        with open(outfile, "wb") as handle:
            handle.write(reply)
        return None
    return reply


def _reply(ctx: CommandContext, ds, path, ctype: str, syntax: str, size: int, level: int, window: int,
           frame: int) -> bytes | None:
    from ..web import wadoimage
    frames = wadoimage.frame_count(ds)
    if ctype in _IMAGES:
        kind, head = _IMAGES[ctype]
        if kind == "bmp" and frames >= 2:
            return None                     # 1.5.0e: no BMP of multi-frame objects
        if kind == "gif" and frames >= 2:
            frame = 10005                   # all frames, 5 per second
        return head.encode("latin-1") + wadoimage.render(ds, kind, size=size, level=level, window=window,
                                                          frame=frame, quality=95)
    if ctype == "video/mpeg":
        return b"Content-type: video/mpeg\nAccess-Control-Allow-Origin:*\n\n" if frames >= 2 else None
    if ctype == "application/dicom":
        ds = wadoimage.explicit_if_native(wadoimage.for_syntax(ds, syntax, ctx.settings))
        from .image_cmds import object_bytes
        data = object_bytes(ds, "file.dcm")
        return dicom_header(len(data)) + data
    text = _meta_dump(path) + dump(ds)
    if ctype == "text/plain":
        reply = b"Content-type: text/plain\nAccess-Control-Allow-Origin: *\n\n" + \
            text.encode("latin-1", "replace") + b" "
        return reply[:-1] if len(reply) % 2 else reply
    return b"Content-type: text/html\nAccess-Control-Allow-Origin:*\n\n" + text.encode("latin-1", "replace")


def _meta_dump(path) -> str:
    """Dump lines of the file's meta group as read (raw values, without 0002,0000)."""
    with open(path, "rb") as handle:
        head = handle.read(132)
        if head[128:132] != b"DICM":
            return ""
        meta = read_dataset(handle, False, True, stop_when=lambda tag, vr, length: tag.group != 2)
    if 0x00020000 in meta:
        del meta[0x00020000]
    return dump(meta)


@command("wadorequest")
def wadorequest(ctx: CommandContext, args: str) -> bytes | None:
    return wado_reply(ctx, args.split(",", 9))


@command("wadoparse")
def wadoparse(ctx: CommandContext, args: str) -> bytes | None:
    return wado_reply(ctx, parse_wado_query(args))
