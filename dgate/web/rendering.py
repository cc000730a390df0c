"""Rendered images for DICOMweb (PS3.18 §8.3.5 rendering parameters, §8.7.4 rendered
media types), drawn with the grayscale and colour pipelines of PS3.4 Annex N.

One frame goes through: decoding (:mod:`.frames`, any stored syntax, NKI expanded) →
Modality LUT (Rescale Slope/Intercept or Modality LUT Sequence, pydicom) → VOI (the
``window`` parameter; else the VOI LUT Sequence; else the first Window Center/Width with
its VOI LUT Function; else the range of the frame) → presentation (MONOCHROME1 or an
INVERSE Presentation LUT Shape inverts) → pixel aspect ratio → source region and flips →
scaling to the viewport (aspect kept) → burned-in annotation → JPEG, PNG, GIF (animated
over several frames) or JPEG 2000 by Pillow. Colour images keep their RGB values (16-bit
samples are scaled to 8 bits); PALETTE COLOR goes through its lookup tables.
"""
from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset

from .errors import HTTPProblem
from .frames import Geometry, decoded_frame

MEDIA_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/jp2": "JPEG2000"}
FUNCTIONS = {"linear": "LINEAR", "linear-exact": "LINEAR_EXACT", "sigmoid": "SIGMOID"}
ANNOTATIONS = ("patient", "technique")
DEFAULT_QUALITY = 90
THUMBNAIL_SIZE = 128
MAX_VIEWPORT = 4096           # rendered images are at most this wide and high (memory per request)


@dataclass
class Window:
    center: float
    width: float
    function: str = "LINEAR"


@dataclass
class Viewport:
    """``viewport=vw,vh[,sx,sy,sw,sh]``: the output box, and a source region in pixels
    (negative sw/sh flip the region)."""

    width: int
    height: int
    sx: float = 0.0
    sy: float = 0.0
    sw: float | None = None
    sh: float | None = None


@dataclass
class Options:
    window: Window | None = None
    viewport: Viewport | None = None
    quality: int = DEFAULT_QUALITY
    annotation: tuple[str, ...] = ()
    icc: bool = False
    warnings: list[str] = field(default_factory=list)


def finite_number(text: str, what: str) -> float:
    """``text`` as a finite number, else a 400 naming ``what``."""
    try:
        value = float(text)
    except ValueError:
        raise HTTPProblem(400, f"{what} must be a number, not '{text}'")
    if not math.isfinite(value):
        raise HTTPProblem(400, f"{what} must be a finite number, not '{text}'")
    return value


def _parse_window(text: str) -> Window:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3):
        raise HTTPProblem(400, f"window is center,width,function (function linear, linear-exact or sigmoid), "
                               f"not '{text}'")
    center, width = finite_number(parts[0], "window center"), finite_number(parts[1], "window width")
    function = FUNCTIONS.get(parts[2].lower()) if len(parts) == 3 else "LINEAR"
    if function is None:
        raise HTTPProblem(400, f"window function '{parts[2]}' is not linear, linear-exact or sigmoid")
    if width <= 0 or (function == "LINEAR" and width < 1):
        raise HTTPProblem(400, f"window width must be positive ({'at least 1 ' if function == 'LINEAR' else ''}"
                               f"for {parts[2] if len(parts) == 3 else 'linear'}), not '{parts[1]}'")
    return Window(center, width, function)


def _parse_viewport(text: str, thumbnail: bool) -> Viewport:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 6) or (thumbnail and len(parts) != 2):
        raise HTTPProblem(400, "viewport is vw,vh" + ("" if thumbnail else " or vw,vh,sx,sy,sw,sh") +
                               f", not '{text}'")
    size = []
    for name, value in zip(("vw", "vh"), parts[:2]):
        if not value.isdigit() or not 0 < int(value) <= MAX_VIEWPORT:
            raise HTTPProblem(400, f"viewport {name} must be a whole number of pixels from 1 to {MAX_VIEWPORT}, "
                                   f"not '{value}'")
        size.append(int(value))
    view = Viewport(size[0], size[1])
    if len(parts) == 6:
        sx, sy, sw, sh = (None if not p else finite_number(p, f"viewport {n}")
                          for p, n in zip(parts[2:], ("sx", "sy", "sw", "sh")))
        if (sx is not None and sx < 0) or (sy is not None and sy < 0):
            raise HTTPProblem(400, "viewport sx and sy are not negative")
        if sw == 0 or sh == 0:
            raise HTTPProblem(400, "viewport sw and sh are not zero")
        view.sx, view.sy, view.sw, view.sh = sx or 0.0, sy or 0.0, sw, sh
    return view


def parse_options(params: Mapping[str, str], thumbnail: bool = False) -> Options:
    """The rendering query parameters (PS3.18 Table 8.3.5-1); malformed ones are 400.
    A thumbnail takes only ``viewport`` (vw,vh); unknown parameters are ignored."""
    opts = Options()
    if "viewport" in params:
        opts.viewport = _parse_viewport(params["viewport"], thumbnail)
    if thumbnail:
        return opts
    if "window" in params:
        opts.window = _parse_window(params["window"])
    if "quality" in params:
        text = params["quality"].strip()
        if not text.isdigit() or not 1 <= int(text) <= 100:
            raise HTTPProblem(400, f"quality is a whole number from 1 to 100, not '{text}'")
        opts.quality = int(text)
    if "annotation" in params:
        words = [w.strip().lower() for w in params["annotation"].split(",") if w.strip()]
        opts.annotation = tuple(w for w in ANNOTATIONS if w in words)
        unknown = [w for w in words if w not in ANNOTATIONS]
        if unknown:
            opts.warnings.append(f"annotation {', '.join(unknown)} is not offered (patient, technique are)")
    icc = params.get("iccprofile", "no").strip().lower()
    if icc not in ("no", "yes", "srgb"):
        if icc in ("adobergb", "rommrgb"):
            raise HTTPProblem(400, f"iccprofile {icc} is not offered: rendered images are sRGB (iccprofile=srgb)")
        raise HTTPProblem(400, f"iccprofile is no, yes, srgb, adobergb or rommrgb, not '{icc}'")
    opts.icc = icc != "no"
    return opts


# -- the pipeline ------------------------------------------------------------------------------
def _window(values: np.ndarray, w: Window) -> np.ndarray:
    """PS3.3 C.11.2.1.2: the VOI LUT functions, to 0..1."""
    c, width = w.center, w.width
    if w.function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - c) / width))
    if w.function == "LINEAR_EXACT":
        return np.clip((values - c) / width + 0.5, 0.0, 1.0)
    if width <= 1:
        return (values > c - 0.5).astype(np.float64)
    return np.clip((values - (c - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def _first_number(ds: Dataset, keyword: str) -> float | None:
    if keyword not in ds or ds[keyword].value in (None, ""):
        return None
    value = ds[keyword].value
    try:
        first = value[0] if isinstance(value, (list, tuple)) or hasattr(value, "__getitem__") and \
            not isinstance(value, (str, bytes)) else value
        number = float(first)
    except (TypeError, ValueError, IndexError):
        return None
    return number if math.isfinite(number) else None


def file_window(ds: Dataset) -> Window | None:
    center, width = _first_number(ds, "WindowCenter"), _first_number(ds, "WindowWidth")
    if center is None or width is None or width <= 0:
        return None
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        function = "LINEAR"
    if function == "LINEAR" and width < 1:
        function = "LINEAR_EXACT"
    return Window(center, width, function)


def _grey(ds: Dataset, arr: np.ndarray, window: Window | None) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut, apply_voi
    values = apply_modality_lut(arr, ds).astype(np.float64)
    if window is None and "VOILUTSequence" in ds:
        try:
            out = apply_voi(values, ds).astype(np.float64)
            bits = int(ds.VOILUTSequence[0].LUTDescriptor[2]) or 16
            scaled = np.clip(out / float((1 << bits) - 1), 0.0, 1.0)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            scaled = None
        if scaled is not None:
            return scaled
    window = window or file_window(ds)
    if window is None:
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        window = Window((low + high) / 2, max(high - low, 1.0), "LINEAR_EXACT")
    return _window(values, window)


def _colour(ds: Dataset, arr: np.ndarray, g: Geometry) -> np.ndarray:
    if g.photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut
        rgb = apply_color_lut(arr, ds)
        top = 255 if rgb.dtype == np.uint8 else 65535
        return np.clip(rgb.astype(np.float64) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if arr.dtype.itemsize > 1 or g.bits_stored > 8:
        shift = max(0, g.bits_stored - 8)
        return np.clip(arr.astype(np.int64) >> shift, 0, 255).astype(np.uint8)
    return arr.astype(np.uint8)


def _aspect(ds: Dataset, g: Geometry) -> float:
    """Rows to columns pixel size ratio (PixelSpacing, else PixelAspectRatio)."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing", "PixelAspectRatio"):
        value = ds.get(keyword)
        if value is not None and not isinstance(value, (str, bytes)) and len(value) == 2:
            try:
                row, col = float(value[0]), float(value[1])
            except (TypeError, ValueError):
                continue
            if row > 0 and col > 0 and 0.2 <= row / col <= 5:       # beyond that: a bogus value, ignored
                return row / col
    return 1.0


def _region(img: Image.Image, view: Viewport) -> Image.Image:
    width, height = img.size
    sw = view.sw if view.sw is not None else width - view.sx
    sh = view.sh if view.sh is not None else height - view.sy
    left, top = view.sx, view.sy
    right, bottom = left + abs(sw), top + abs(sh)
    if left >= width or top >= height or right <= 0 or bottom <= 0:
        raise HTTPProblem(400, f"viewport region {view.sx:g},{view.sy:g},{sw:g},{sh:g} is outside the "
                               f"{width}x{height} image")
    box = (int(round(left)), int(round(top)), int(round(min(right, width))), int(round(min(bottom, height))))
    if box[2] <= box[0] or box[3] <= box[1]:
        raise HTTPProblem(400, "viewport region has no pixels")
    img = img.crop(box)
    if sw < 0:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if sh < 0:
        img = img.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return img


def picture(ds: Dataset, index: int, opts: Options, default_box: int = 0) -> Image.Image:
    """Frame ``index`` (0-based) of a data set as a rendered Pillow image."""
    if "PixelData" not in ds:
        raise HTTPProblem(406, "this instance has no pixel data; only images are rendered")
    g = Geometry.of(ds)
    arr = decoded_frame(ds, index)
    if arr.ndim == 3 or g.photometric == "PALETTE COLOR":
        img = Image.fromarray(_colour(ds, arr, g), "RGB")
    else:
        unit = _grey(ds, arr, opts.window)
        inverse = str(ds.get("PresentationLUTShape", "") or "").strip().upper() == "INVERSE"
        if (g.photometric == "MONOCHROME1") != inverse:
            unit = 1.0 - unit
        img = Image.fromarray(np.rint(unit * 255.0).astype(np.uint8), "L")
    ratio = _aspect(ds, g)
    if abs(ratio - 1.0) > 1e-3:
        width, height = img.size
        img = img.resize((width, max(1, int(round(height * ratio)))), Image.Resampling.BICUBIC)
    view = opts.viewport
    if view is not None and (view.sw is not None or view.sh is not None or view.sx or view.sy):
        img = _region(img, view)
    box = (view.width, view.height) if view is not None else (default_box, default_box) if default_box else None
    if box is not None:
        scale = min(box[0] / img.size[0], box[1] / img.size[1])
        if view is not None or scale < 1:
            size = (max(1, int(round(img.size[0] * scale))), max(1, int(round(img.size[1] * scale))))
            if size != img.size:
                img = img.resize(size, Image.Resampling.LANCZOS)
    if opts.annotation:
        img = annotate(img, ds, opts, index)
    return img


def annotate(img: Image.Image, ds: Dataset, opts: Options, index: int) -> Image.Image:
    """Burn in patient and/or technique text (PS3.18 §8.3.5.1.1; the layout is ours)."""
    from PIL import ImageDraw, ImageFont
    img = img.convert("RGB")
    lines_top: list[str] = []
    lines_bottom: list[str] = []
    if "patient" in opts.annotation:
        lines_top += [str(ds.get("PatientName", "") or ""), str(ds.get("PatientID", "") or ""),
                      str(ds.get("StudyDate", "") or "")]
    if "technique" in opts.annotation:
        g = Geometry.of(ds)
        w = opts.window or file_window(ds)
        lines_bottom += [f"{ds.get('Modality', '') or ''} {ds.get('SeriesNumber', '') or ''}:"
                         f"{ds.get('InstanceNumber', '') or ''}".strip(),
                         f"frame {index + 1}/{g.frames}" if g.frames > 1 else "",
                         f"W {w.width:g} L {w.center:g}" if w else ""]
    size = max(10, img.size[1] // 28)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:                       # Pillow without FreeType: the fixed bitmap font
        font = ImageFont.load_default()
    draw = ImageDraw.Draw(img)
    y = 2
    for line in (t for t in lines_top if t):
        draw.text((3, y), line, fill=(255, 255, 255), font=font, stroke_width=1, stroke_fill=(0, 0, 0))
        y += size + 2
    y = img.size[1] - 2 - (size + 2) * len([t for t in lines_bottom if t])
    for line in (t for t in lines_bottom if t):
        draw.text((3, y), line, fill=(255, 255, 255), font=font, stroke_width=1, stroke_fill=(0, 0, 0))
        y += size + 2
    return img


def _srgb() -> bytes:
    from PIL import ImageCms
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def encode(images: list[Image.Image], media: str, opts: Options, frame_ms: int = 100) -> bytes:
    """The images in one file of ``media`` (several images: an animated GIF)."""
    fmt = MEDIA_FORMATS[media]
    out = io.BytesIO()
    extra: dict = {"icc_profile": _srgb()} if opts.icc and fmt in ("JPEG", "PNG") else {}
    first = images[0]
    if fmt == "GIF":
        frames = [im if im.mode == "L" else im.convert("RGB").quantize(256) for im in images]
        if len(frames) > 1:
            frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=max(frame_ms, 20), loop=0)
        else:
            frames[0].save(out, "GIF")
    elif fmt == "JPEG":
        first.save(out, "JPEG", quality=opts.quality, **extra)
    elif fmt == "JPEG2000":
        if opts.quality >= 100:
            first.save(out, "JPEG2000", irreversible=False)
        else:
            first.save(out, "JPEG2000", irreversible=True, quality_mode="rates", quality_layers=[100.0 / opts.quality])
    else:
        first.save(out, "PNG", **extra)
    return out.getvalue()


def frame_time(ds: Dataset) -> int:
    """Milliseconds per frame of a multi-frame image (Frame Time), 100 when not stated."""
    value = _first_number(ds, "FrameTime")
    return int(value) if value and value > 0 else 100
