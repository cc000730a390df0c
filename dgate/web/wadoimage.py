"""WADO images as Conquest draws them: the image part of ``wadorequest`` (ServerTask,
conquest-protocol.md §5.7, conquest-lua-web.md §10.4), shared by our HTTP WADO-URI and
the ``wadorequest:``/``wadoparse:`` server commands.

* ``region`` crops the decompressed pixels before drawing, with Conquest's meaning of the
  four fractions: x start, x end, y start, y end (ends inclusive); an empty region leaves
  the image as it is, as Conquest's crop refuses it;
* the size is the larger of ``rows``/``columns`` (the image is downsized by an integer
  factor to fit, never enlarged); level/window/frame and the drawing itself are
  :func:`dgate.codec.render` (GIF, BMP, JPEG, PNG); JPEG 2000 uses the same 8-bit picture;
* a negative frame with BMP or JPEG draws the series as a strip of ``-frame`` columns
  (``ImageStripforSeries``; here a real grid: each picture in its cell, empty cells black);
* ``anonymize`` runs Conquest's anonymizer through the converter engine after the crop and
  before anything is drawn or sent (:func:`anonymize`: ``yes`` → ``call
  anonymize_script.cq``, other values → ``lua/anonymize_script.lua(value)``).
"""
from __future__ import annotations

import copy
import io
import math
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from .. import codec
from ..codec import pixels as codec_pixels
from ..codec import syntaxes as ts
from .frames import Geometry

KINDS = {"image/gif": "gif", "image/bmp": "bmp", "image/jpeg": "jpg", "image/png": "png", "image/jp2": "jp2"}
ANIMATED = 10005              # Conquest's frame value for an animated GIF at 5 frames per second
CONQUEST_SIZE = 1600          # the size when neither rows nor columns is given


class WadoError(Exception):
    """The object cannot be served (the text says why; ``status`` is the HTTP status)."""

    def __init__(self, text: str, status: int = 400):
        super().__init__(text)
        self.status = status


@dataclass
class Drawing:
    """What to draw: ``kind`` gif/bmp/jpg/png/jp2; ``frame`` 0-based (> 10000: animated
    GIF of all frames); ``region`` (x start, x end, y start, y end) as fractions."""

    kind: str
    size: int = CONQUEST_SIZE
    level: int = 0
    window: int = 0
    frame: int = 0
    quality: int = 95
    region: tuple[float, float, float, float] | None = None


def crop(ds: Dataset, region: tuple[float, float, float, float]) -> bool:
    """Conquest's region crop (``DcmConvertPixelData``): the object is decompressed and
    every frame cut to ``[x start, x end] × [y start, y end]``; False (nothing changed)
    when the region holds no pixels or the data cannot be cut."""
    g = Geometry.of(ds)
    sx, ex, sy, ey = region
    startx, endx = math.trunc(sx * g.columns + 0.5), math.trunc(ex * g.columns + 0.5)
    starty, endy = math.trunc(sy * g.rows + 0.5), math.trunc(ey * g.rows + 0.5)
    startx, starty = max(0, startx), max(0, starty)
    endx, endy = min(endx, g.columns - 1), min(endy, g.rows - 1)
    if endx <= startx or endy <= starty or g.bits_allocated % 8 or "PixelData" not in ds:
        return False
    codec.decompress(ds)
    if codec_pixels.transfer_syntax(ds) == ts.EXPLICIT_BE:
        codec.transcode(ds, ts.EXPLICIT_LE)
    arr = codec.decode_frames(ds)
    cut = np.ascontiguousarray(arr[:, starty:endy + 1, startx:endx + 1])
    ds.PixelData = cut.astype(cut.dtype.newbyteorder("<")).tobytes()
    ds["PixelData"].VR = "OB" if g.bits_allocated == 8 else "OW"
    ds.Rows, ds.Columns = endy - starty + 1, endx - startx + 1
    return True


def anonymize(ds: Dataset, value: str, config, logs) -> Dataset:
    """``ds`` through the anonymizer ``value`` asks for (changed in place); :class:`WadoError`
    when that script is not installed (500) or refused the object (403): nothing
    identifiable is served then."""
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


def draw(ds: Dataset, what: Drawing) -> bytes:
    """The image file of an object (it is not changed). Raises :class:`dgate.codec.CodecError`."""
    if what.region is not None:
        ds = copy.deepcopy(ds)
        crop(ds, what.region)
    if what.kind == "jp2":
        from ..codec.rendering import to_8bit
        picture = to_8bit(copy.deepcopy(ds), what.size, what.level, what.window, max(0, what.frame), rgb=True,
                          fixed_scale=True)
        return _pillow(picture, "JPEG2000", quality=what.quality)
    return codec.render(ds, what.kind, frame=what.frame, size=what.size, level=what.level, window=what.window,
                        quality=what.quality)


def strip(datasets: list[Dataset], kind: str, level: int, window: int, columns: int) -> bytes:
    """The images of a series side by side, ``columns`` to a row (first frames, full
    size up to 8192 pixels), as BMP or JPEG."""
    from ..codec.rendering import bmp, to_8bit
    pictures = []
    for ds in datasets:
        try:
            pictures.append(to_8bit(copy.deepcopy(ds), 8192, level, window, 0, rgb=True, fixed_scale=True,
                                    width_by_4=kind == "bmp"))
        except codec.CodecError:
            continue                       # objects without pixels are left out
    if not pictures:
        raise codec.CodecError("no images in this series")
    columns = max(1, columns)
    height, width = pictures[0].shape[:2]
    rows = -(-len(pictures) // columns)
    canvas = np.zeros((rows * height, columns * width, 3), np.uint8)
    for index, picture in enumerate(pictures):
        top, left = (index // columns) * height, (index % columns) * width
        part = picture[:height, :width]
        canvas[top:top + part.shape[0], left:left + part.shape[1]] = part
    if kind == "bmp":
        return bmp(canvas[:, :canvas.shape[1] & ~3])
    return _pillow(canvas, "JPEG", quality=95)


def _pillow(picture: np.ndarray, fmt: str, quality: int = 95) -> bytes:
    from PIL import Image
    image = Image.fromarray(picture, "RGB" if picture.ndim == 3 else "L")
    out = io.BytesIO()
    if fmt == "JPEG2000":
        if quality >= 100:
            image.save(out, fmt, irreversible=False)
        else:
            image.save(out, fmt, irreversible=True, quality_mode="rates", quality_layers=[100.0 / max(1, quality)])
    else:
        image.save(out, fmt, quality=quality)
    return out.getvalue()


def number_of_frames(ds: Dataset) -> int:
    return Geometry.of(ds).frames if "NumberOfFrames" in ds else 1
