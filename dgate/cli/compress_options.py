"""The ``-n…`` and ``-j…`` options: (de)compress a file in place (conquest-protocol.md §2.2).

=============== =========================================================================
``-ndFILE``     decompress FILE (``un``) in place
``-nuIN OUT``   decompress NKI file IN to OUT (the next two words)
``-nc#,FILE``   NKI compress FILE in mode # (``n#``)
``-jdFILE``     decompress FILE (``un``)
``-jcX,FILE``   compress FILE with ``jX``
``-j*XXFILE``   recompress FILE in place to the two-letter code XX
``-j-XXFILE``   recompress FILE and write it back as an ACR-NEMA (``.v2``) dump; exit 1
``-js/-jjFILE`` JSON of FILE without/with pixel data (Lua ``Serialize``, as ``convert_to_json``)
=============== =========================================================================

The object is written back in the format its name implies (``.v2`` raw dump, otherwise
Part 10 in the new transfer syntax). A failure exits with 1, as in the original.
"""
from __future__ import annotations

from pathlib import Path

from .. import codec
from ..store.formats import BadObject, read_file, v2_bytes, write_atomic
from .context import Invocation


def recompress_file(inv: Invocation, path: str, code: str, raw_dump: bool = False) -> bool:
    """``recompressFile``: load, recompress, save under the same name."""
    from ..commands.image_cmds import object_bytes
    from ..store.ingest import counters

    op = inv.logs.operator
    try:
        ds = read_file(path).dataset()
    except (OSError, BadObject):
        op.printf(f"***[recompressFile] {path} -FAILED: Error on Load\n")
        return False
    try:
        ds = codec.recompress(ds, code, lossy_quality=inv.settings.int("LossyQuality"), counters=counters,
                              log=op.printf)
        data = v2_bytes(ds) if raw_dump else object_bytes(ds, path)
    except codec.CodecError as exc:
        op.printf(f"***[recompressFile] {path} -FAILED: {exc}\n")
        return False
    except BadObject:
        op.printf("Recompress: cannot rewrite jpeg/rle image in v2 format\n")
        return False
    write_atomic(Path(path), data)
    return True


def _split_code_file(text: str) -> tuple[str, str]:
    code, comma, name = text.partition(",")
    return (code, name) if comma else (text[:1], text[1:])


def opt_nki(inv: Invocation, text: str, rest: list) -> int:
    """-nd / -nu / -nc: NKI (de)compression of a file."""
    sub, arg = text[:1].lower(), text[1:]
    if sub == "d":
        return 0 if recompress_file(inv, arg, "un") else 1
    if sub == "u":
        if len(rest) < 2:
            inv.logs.operator.printf("***-nu needs an input and an output file\n")
            return 1
        source, target = rest[0], rest[1]
        try:
            ds = codec.recompress(read_file(source).dataset(), "un")
            from ..commands.image_cmds import object_bytes
            write_atomic(Path(target), object_bytes(ds, target))
        except (OSError, BadObject, codec.CodecError) as exc:
            inv.logs.operator.printf(f"***[DecompressNKI] {source} -FAILED: {exc}\n")
            return 1
        return 0
    if sub == "c":
        mode, name = _split_code_file(arg)
        return 0 if recompress_file(inv, name, "n" + mode) else 1
    return 0


def opt_jpeg(inv: Invocation, text: str, rest: list) -> int:
    """-jd / -jc / -j* / -j- / -js / -jj."""
    sub, arg = text[:1], text[1:]
    if sub.lower() == "d":
        return 0 if recompress_file(inv, arg, "un") else 1
    if sub.lower() == "c":
        mode, name = _split_code_file(arg)
        return 0 if recompress_file(inv, name, "j" + mode) else 1
    if sub == "*":
        return 0 if recompress_file(inv, arg[2:], arg[:2]) else 1
    if sub == "-":
        recompress_file(inv, arg[2:], arg[:2], raw_dump=True)
        return 1
    if sub in ("s", "j"):
        from ..luabind.entry import json_dump
        return json_dump(inv.config, inv.logs, arg, full=sub == "j")
    return 0
