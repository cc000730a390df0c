"""``wadorequest:`` and ``wadoparse:`` (conquest-protocol.md §5.7), the server side of
Conquest's WADO-URI for PHP (``wado.php``), CGI mode and Ladle's ``WADO.lua``.

Replies have the original's header blocks (byte for byte, checked against 1.5.0e):
``application/dicom`` → ``Content-type``/``Content-Disposition``/``Content-length``/
``Access-Control-Allow-Origin`` + the Part 10 file; ``text/plain`` and ``text/html`` → the
header dump. Empty or unknown contentType, or an object not found → no reply.
``transferSyntax`` other than uncompressed, and the image types (GIF, BMP, JPEG) need the
codec capability: they are logged and get no reply, as an unknown type does.
"""
from __future__ import annotations

from urllib.parse import parse_qsl

from pydicom.filereader import read_dataset

from ..store.dump import dump_file
from ..store.formats import EXPLICIT_LE, UNCOMPRESSED, Encoded, part10_bytes, read_file
from . import command
from .context import CommandContext
from .db_cmds import locate_object

DICOM_SYNTAX_CODES = {"1.2.840.10008.1.2.4.50": "j3", "1.2.840.10008.1.2.4.51": "j4", "1.2.840.10008.1.2.4.53": "j5",
                      "1.2.840.10008.1.2.4.55": "j1", "1.2.840.10008.1.2.4.57": "j2", "1.2.840.10008.1.2.4.70": "j1",
                      "1.2.840.10008.1.2.4.80": "js", "1.2.840.10008.1.2.4.81": "j7", "1.2.840.10008.1.2.4.90": "jk",
                      "1.2.840.10008.1.2.4.91": "jl"}
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


def wado_reply(ctx: CommandContext, fields: list[str]) -> bytes | None:
    fields = fields + [""] * (10 - len(fields))
    obj, _lwfq, _size, region, ctype, syntax, anonymize, _annotation, bridge, outfile = fields[:10]
    if ctype in IMAGE_TYPES:
        ctx.logs.operator.printf(f"*** wadorequest: {ctype} needs the codec capability (rendering)\n")
        return None
    if ctype not in ("application/dicom", "text/plain", "text/html"):
        return None
    if anonymize or bridge or region:
        what = "anonymize" if anonymize else "bridge" if bridge else "region"
        ctx.logs.operator.printf(f"*** wadorequest: {what} needs the "
                                 f"{'Lua' if anonymize else 'codec' if region else 'virtual server'} capability\n")
        return None
    path = locate_object(ctx, obj)
    if path is None:
        return None
    if ctype == "application/dicom":
        encoded = read_file(path)
        raw = path.read_bytes()
        if syntax in DICOM_SYNTAX_CODES or (syntax.startswith("n") and len(syntax) == 2):
            ctx.logs.operator.printf(f"*** wadorequest: transferSyntax {syntax} needs the codec capability\n")
            return None
        if encoded.transfer_syntax == EXPLICIT_LE and raw[128:132] == b"DICM":
            data = raw                              # already what recompress 'un' would write
        else:
            ds = encoded.dataset()
            if encoded.transfer_syntax not in UNCOMPRESSED:
                ds.decompress(generate_instance_uid=False)
            out = Encoded.from_dataset(ds, EXPLICIT_LE)
            data = part10_bytes(out, str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", "")))
        reply = dicom_header(len(data)) + data
    else:
        text = dump_file(path, ctx.config.dictionary)
        if ctype == "text/plain":
            reply = b"Content-type: text/plain\nAccess-Control-Allow-Origin: *\n\n" + \
                text.encode("latin-1", "replace") + b" "
            if len(reply) % 2:
                reply = reply[:-1]
        else:
            reply = b"Content-type: text/html\nAccess-Control-Allow-Origin:*\n\n" + text.encode("latin-1", "replace")
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
