"""The object part of a WADO request, shared by WADO-URI (``/wado``) and the ``wadorequest:``
/ ``wadoparse:`` server commands (conquest-lua-web.md §10.4; dgate.cpp ``wadorequest``):
the stored object read as every reader sees it (NKI expanded), cropped to a region,
anonymized through the converter engine (``anonymize=yes`` → ``call
anonymize_script.cq``, other values → ``lua/anonymize_script.lua(value)``), then rendered
by :func:`dgate.codec.render` or recompressed for a transfer syntax by
:func:`dgate.codec.recompress`.
"""
from __future__ import annotations

import math
from pathlib import Path

from pydicom.dataset import Dataset

from .. import codec

#: transferSyntax → the Conquest code 1.5.0e recompresses with; n0…n5 are NKI codes;
#: anything else (also the uncompressed syntaxes) is ``un``
SYNTAX_CODES = {"1.2.840.10008.1.2.4.50": "j3", "1.2.840.10008.1.2.4.51": "j4", "1.2.840.10008.1.2.4.53": "j5",
                "1.2.840.10008.1.2.4.55": "j1", "1.2.840.10008.1.2.4.57": "j2", "1.2.840.10008.1.2.4.70": "j1",
                "1.2.840.10008.1.2.4.80": "js", "1.2.840.10008.1.2.4.81": "j7", "1.2.840.10008.1.2.4.90": "jk",
                "1.2.840.10008.1.2.4.91": "jl"}


class WadoError(Exception):
    """The request cannot be answered (the text says why)."""

    def __init__(self, text: str, status: int = 400):
        super().__init__(text)
        self.status = status


def _counters():
    from ..store.ingest import counters
    return counters


def load(path: str | Path) -> Dataset:
    """The stored object (NKI data expanded)."""
    from ..convert.onfile import read_object
    try:
        return read_object(path)
    except Exception as exc:         # broken file, broken NKI data
        raise WadoError(f"cannot read the stored object: {exc}", 500) from exc


def crop(ds: Dataset, x1: float, x2: float, y1: float, y2: float, conquest: bool = True) -> None:
    """Keep the region between the fractions x1…x2 of the columns and y1…y2 of the rows
    (decompressed first, as 1.5.0e does). ``conquest``: its rounding, the pixel at the end
    fraction included; else PS3.18's (the end fraction is the right/bottom edge)."""
    from ..convert.imaging import crop_pixels
    if "PixelData" not in ds:
        raise WadoError("region: the object has no pixel data", 404)
    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    try:
        codec.decompress(ds, _counters())
    except codec.CodecError as exc:
        raise WadoError(f"region: {exc}", 500) from exc
    if conquest:
        crop_pixels(ds, int(x1 * columns + 0.5), int(y1 * rows + 0.5), int(x2 * columns + 0.5),
                    int(y2 * rows + 0.5))
        return
    left, top = int(x1 * columns), int(y1 * rows)
    crop_pixels(ds, left, top, max(left, math.ceil(x2 * columns) - 1), max(top, math.ceil(y2 * rows) - 1))


def anonymize(ds: Dataset, value: str, config, logs) -> Dataset:
    """``ds`` through the anonymizer ``value`` asks for; WadoError when the anonymizer
    script is missing or refused the object (nothing identifiable is served then)."""
    from ..convert.onfile import anonymizer, script_context, through_script
    ctx = script_context(config, logs, calling="wado", called="wado")
    statement = anonymizer(ctx, value)
    if statement is None:
        script = "anonymize_script.cq" if value == "yes" else "lua/anonymize_script.lua"
        raise WadoError(f"anonymize={value}: the anonymizer {script} is not installed; nothing served", 500)
    result = through_script(ds, statement, ctx)
    if result is None:
        raise WadoError(f"anonymize={value}: the anonymizer refused this object", 403)
    return result


def render(ds: Dataset, kind: str, *, size: int = 0, level: int = 0, window: int = 0, frame: int = 0,
           quality: int = 95) -> bytes:
    """An image of the object: ``kind`` gif, bmp, jpg or png (frame > 10000: animated GIF)."""
    try:
        return codec.render(ds, kind, size=size, level=level, window=window, frame=frame, quality=quality,
                            counters=_counters())
    except codec.CodecError as exc:
        raise WadoError(f"cannot render the object: {exc}", 404 if "no pixel data" in str(exc) else 500) from exc


def for_syntax(ds: Dataset, syntax: str, settings) -> Dataset:
    """The object recompressed for ``transferSyntax`` as 1.5.0e does (see
    :data:`SYNTAX_CODES`; ``n0``…``n5`` give NKI data without sequences, others ``un``)."""
    code = SYNTAX_CODES.get(syntax, syntax if syntax[:1] == "n" and len(syntax) == 2 else "un")
    try:
        if code != "n0":
            ds = codec.recompress(ds, code, lossy_quality=settings.int("LossyQuality") or 95, counters=_counters())
    except codec.CodecError as exc:
        raise WadoError(f"transferSyntax {syntax}: {exc}", 406) from exc
    if code.startswith("n"):
        for elem in list(ds):           # SimplifyDicom: sequences dropped for NKI clients
            if elem.VR == "SQ":
                del ds[elem.tag]
    return ds


def explicit_if_native(ds: Dataset) -> Dataset:
    """Uncompressed (also NKI) data in Explicit VR Little Endian, as 1.5.0e's
    ``SaveDICOMDataObject`` writes a ``.dcm`` file; compressed data as it is."""
    from ..codec import syntaxes as ts
    from ..codec.pixels import transfer_syntax
    from ..codec.recompression import to_uncompressed
    if transfer_syntax(ds) in ts.UNCOMPRESSED:
        to_uncompressed(ds, ts.EXPLICIT_LE)
    return ds


def frame_count(ds: Dataset) -> int:
    try:
        return max(1, int(str(ds.get("NumberOfFrames", 1) or 1).strip() or 1))
    except ValueError:
        return 1


