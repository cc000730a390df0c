"""An imagecodecs decoding plugin for pydicom (pydicom's decoder plugin interface).

pydicom's own plugins (pylibjpeg, pillow) are tried first; this one runs when they fail,
e.g. for 12-bit JPEG Extended (pylibjpeg-libjpeg: "misplaced marker", pillow: no 12-bit),
and for JPEG-LS when pyjpegls is not installed. It returns the frame in the colour space
of the codestream (no YCbCr→RGB conversion: pydicom does that afterwards), as pydicom
expects from a plugin. :func:`register` adds it once per process.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from . import syntaxes as ts

_JPEG = (ts.JPEG_BASELINE, ts.JPEG_EXTENDED, ts.JPEG_SPECTRAL, ts.JPEG_PROGRESSIVE, ts.JPEG_LOSSLESS,
         ts.JPEG_LOSSLESS_SV1)
_JPEGLS = (ts.JPEGLS_LOSSLESS, ts.JPEGLS_NEAR)
_J2K = (ts.J2K_LOSSLESS, ts.J2K)
SUPPORTED = _JPEG + _JPEGLS + _J2K

DECODER_DEPENDENCIES = {uid: ("imagecodecs>=2024.1",) for uid in SUPPORTED}

_lock = threading.Lock()
_registered = False


def is_available(uid: str) -> bool:
    """pydicom plugin interface: whether this plugin can decode ``uid``."""
    try:
        import imagecodecs  # noqa: F401
    except ImportError:
        return False
    return uid in SUPPORTED


def _decode_frame(src: bytes, runner) -> bytes:
    """pydicom plugin interface: one encoded frame → its decoded bytes."""
    import imagecodecs

    uid = str(runner.transfer_syntax)
    if uid in _JPEG:
        kwargs: dict[str, Any] = {}
        if runner.samples_per_pixel == 3:
            space = "RGB" if runner.photometric_interpretation == "RGB" else "YCbCr"
            kwargs = {"colorspace": space, "outcolorspace": space}
        arr = imagecodecs.jpeg8_decode(src, **kwargs)
    elif uid in _JPEGLS:
        arr = imagecodecs.jpegls_decode(src)
        runner.set_option("planar_configuration", 0)
    else:
        arr = imagecodecs.jpeg2k_decode(src)
        if runner.photometric_interpretation in ("YBR_ICT", "YBR_RCT"):
            runner.set_option("photometric_interpretation", "RGB")
    arr = np.ascontiguousarray(arr)
    bits = 8 * arr.dtype.itemsize
    if bits != runner.bits_allocated:
        runner.set_option("bits_allocated", bits)
    return arr.tobytes()


_extra: dict[str, object] = {}


def register() -> None:
    """Add the plugin to pydicom's decoders (idempotent, thread-safe); the retired JPEG
    syntaxes pydicom has no decoder for (.53, .55) get one with this plugin only."""
    global _registered
    if _registered:
        return
    with _lock:
        if _registered:
            return
        from pydicom.pixels import get_decoder
        from pydicom.pixels.decoders.base import Decoder
        from pydicom.uid import UID
        for uid in SUPPORTED:
            try:
                decoder = get_decoder(uid)
            except NotImplementedError:
                decoder = Decoder(UID(uid))
                _extra[uid] = decoder
            if "imagecodecs" not in decoder.available_plugins:
                try:
                    decoder.add_plugin("imagecodecs", (__name__, "_decode_frame"))
                except (ValueError, ImportError):
                    pass
        _registered = True


def decoder_for(uid: str):
    """pydicom's decoder for ``uid`` (with this plugin), including the retired JPEG ones."""
    from pydicom.pixels import get_decoder
    register()
    if uid in _extra:
        return _extra[uid]
    return get_decoder(uid)
