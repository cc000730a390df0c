"""Pixel data of a pydicom Dataset: where it is, what shape it has, and the two ways of
making it ordinary (native, little endian) pixel data.

* :func:`expand_nki` — NKI private compression (7FDF,0010) back to (7FE0,0010)
  (``DecompressNKI``);
* :func:`decode` — any encapsulated syntax to native Explicit VR Little Endian via
  pydicom's decoder plugins (pylibjpeg, pillow, pydicom's RLE, and :mod:`.decoders`'
  imagecodecs plugin as the fallback), counting the work as the original does;
* :func:`frames` — the decoded frames as a numpy array without changing the data set.

The transfer syntax of a Dataset is ``ds.file_meta.TransferSyntaxUID`` (Implicit VR
Little Endian when absent, as Conquest assumes for objects without group 0002).
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID

from . import nki
from . import syntaxes as ts
from .counters import NULL, CounterSink, family_counter
from .errors import CodecError, is_library_failure


def transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    uid = str(meta.get("TransferSyntaxUID", "") if meta is not None else "").rstrip("\0 ")
    return uid or ts.IMPLICIT_LE


def set_transfer_syntax(ds: Dataset, uid: str) -> None:
    """Set the data set's transfer syntax; when the byte order changes, the bytes of word
    valued elements other than Pixel Data (LUT data, overlays: OW/OF/OL/OD/OV) are swapped
    (the caller supplies Pixel Data in the new order)."""
    before = transfer_syntax(ds) if getattr(ds, "file_meta", None) is not None else ts.IMPLICIT_LE
    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(uid)
    implicit = uid == ts.IMPLICIT_LE
    little = uid != ts.EXPLICIT_BE
    if (before == ts.IMPLICIT_LE) != implicit or (before == ts.EXPLICIT_BE) != (not little):
        for _ in ds.iterall():      # decode raw elements (also in sequence items) in the old encoding,
            pass                    # else items keep their old VR encoding inside the new one
    if (before == ts.EXPLICIT_BE) != (uid == ts.EXPLICIT_BE):
        _swap_words(ds)
    ds.set_original_encoding(implicit, little)


_WORD = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def _swap_words(ds: Dataset) -> None:
    for tag in list(ds.keys()):
        if tag in (nki.PIXEL_TAG, nki.NKI_TAG):
            continue
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value or []:
                _swap_words(item)
            continue
        size = _WORD.get(str(elem.VR))
        value = elem.value
        if size is not None and isinstance(value, (bytes, bytearray)) and len(value) >= size:
            count = len(value) // size
            swapped = np.frombuffer(value, dtype=f"u{size}", count=count).byteswap().tobytes()
            elem.value = swapped + bytes(value[count * size:])


def swap_pixel_bytes(data: bytes, bits_allocated: int) -> bytes:
    """Native pixel bytes in the other byte order."""
    size = bits_allocated // 8
    if size < 2:
        return data
    count = len(data) // size
    return np.frombuffer(data, dtype=f"u{size}", count=count).byteswap().tobytes() + data[count * size:]


def sop_of(ds: Dataset) -> str:
    try:
        return str(ds.get("SOPInstanceUID", "") or "")
    except Exception:
        return ""


def raw_value(ds: Dataset, tag: int) -> bytes | None:
    """An element's bytes as stored, without letting pydicom interpret them (needed for
    (7FDF,0010), which pydicom takes for a private creator text in implicit VR)."""
    if tag not in ds:
        return None
    elem = ds.get_item(tag)
    value = elem.value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):              # already converted: undo the text decoding
        return value.encode("latin-1", "replace")
    return None if value is None else bytes(value)


@dataclass(frozen=True)
class Geometry:
    """The Image Pixel module values the codec needs (PS3.3 C.7.6.3)."""

    rows: int
    columns: int
    samples: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    photometric: str
    planar: int
    frames: int

    @classmethod
    def of(cls, ds: Dataset) -> "Geometry":
        def number(keyword: str, default: int) -> int:
            try:
                value = ds.get(keyword, default)
                return int(value) if value not in (None, "") else default
            except (TypeError, ValueError):
                return default
        bits_allocated = number("BitsAllocated", 16)
        return cls(number("Rows", 0), number("Columns", 0), number("SamplesPerPixel", 1), bits_allocated,
                   number("BitsStored", bits_allocated), number("PixelRepresentation", 0) == 1,
                   str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2").strip(),
                   number("PlanarConfiguration", 0), max(1, number("NumberOfFrames", 1)))

    @property
    def frame_bytes(self) -> int:
        return self.rows * self.columns * self.samples * self.bits_allocated // 8


def has_pixels(ds: Dataset) -> bool:
    return "PixelData" in ds or nki.NKI_TAG in ds


def has_nki(ds: Dataset) -> bool:
    """NKI compressed pixel data present (``DecompressNKI`` recognition rules)."""
    if nki.NKI_TAG not in ds or nki.PIXEL_TAG in ds:
        return False
    return nki.is_nki(raw_value(ds, nki.NKI_TAG))


def nki_mode(ds: Dataset) -> int:
    return nki.header_mode(raw_value(ds, nki.NKI_TAG) or b"") if has_nki(ds) else 0


def _set_native(ds: Dataset, data: bytes, bits_allocated: int) -> None:
    if len(data) & 1:
        data += b"\0"
    ds.PixelData = data
    elem = ds["PixelData"]
    elem.VR = "OB" if bits_allocated <= 8 else "OW"
    elem.is_undefined_length = False
    ds._pixel_array = None
    ds._pixel_id = {}


def expand_nki(ds: Dataset, counters: CounterSink = NULL) -> bool:
    """Replace NKI compressed (7FDF,0010) by ordinary (7FE0,0010); True if done."""
    if not has_nki(ds):
        return False
    value = raw_value(ds, nki.NKI_TAG) or b""
    try:
        data = nki.decompress(value)
    except CodecError as exc:
        raise CodecError(exc.reason, sop_of(ds), "NKI") from None
    counters.add("nki")
    del ds[nki.NKI_TAG]
    _set_native(ds, data, Geometry.of(ds).bits_allocated)
    return True


def compress_nki(ds: Dataset, mode: int, counters: CounterSink = NULL) -> bool:
    """Replace native (7FE0,0010) by NKI (7FDF,0010) in ``mode`` (``CompressNKI``);
    the new element keeps the old one's VR. False when there is nothing to compress."""
    if nki.NKI_TAG in ds or "PixelData" not in ds:
        return False
    elem = ds["PixelData"]
    if elem.is_undefined_length or not elem.value:
        return False
    data = bytes(elem.value)
    if transfer_syntax(ds) == ts.EXPLICIT_BE:
        data = little_endian_pixels(ds)
    if len(data) & 1:
        data += b"\0"                 # as stored: element values have an even length
    value = nki.compress(data, mode)
    counters.add("nki")
    vr = elem.VR if elem.VR in ("OB", "OW") else "OW"
    del ds["PixelData"]
    ds[nki.NKI_TAG] = DataElement(nki.NKI_TAG, vr, value)
    return True


def little_endian_pixels(ds: Dataset) -> bytes:
    """Native pixel bytes in little-endian order (byte-swapped from Explicit VR BE)."""
    data = bytes(ds["PixelData"].value)
    if transfer_syntax(ds) != ts.EXPLICIT_BE:
        return data
    return swap_pixel_bytes(data, Geometry.of(ds).bits_allocated)


def _decoder(uid: str):
    from .decoders import decoder_for
    try:
        return decoder_for(uid)
    except NotImplementedError:
        raise CodecError(f"no decoder for transfer syntax {ts.name(uid)}") from None


MAX_PIXEL_BYTES = 0xFFFFFFFE       # the largest native Pixel Data value (32-bit length, even)


def _check_size(ds: Dataset, geometry: Geometry, codec: str) -> None:
    """Refuse headers that claim more pixels than native pixel data can hold (before any
    buffer is allocated for them)."""
    if geometry.frame_bytes * geometry.frames > MAX_PIXEL_BYTES:
        raise CodecError(f"{geometry.rows}x{geometry.columns}x{geometry.frames} pixels of {geometry.bits_allocated} "
                         "bits do not fit in native pixel data", sop_of(ds), codec)


def _plugins(decoder) -> list[str]:
    """Decoding plugins to try in turn: imagecodecs first where it can (libjpeg-turbo,
    CharLS and OpenJPEG are several times faster than the others here), then all of
    pydicom's plugins ("" = pydicom tries each available one)."""
    if "imagecodecs" in decoder.available_plugins and len(decoder.available_plugins) > 1:
        return ["imagecodecs", ""]
    if str(decoder.UID) == ts.RLE and {"pydicom", "pylibjpeg"} <= set(decoder.available_plugins):
        # pylibjpeg-rle is ~15x faster than pydicom's numpy decoder, but panics (printing a
        # Rust message on stderr) on damaged data: pydicom's then says what is wrong
        return ["pylibjpeg", "pydicom"]
    return [""]


def _fresh_bytes(size: int) -> bytes:
    """A new zero-filled ``bytes`` object that :class:`_Frames` fills in place (pydicom takes
    only ``bytes`` as pixel data; building it from parts would hold the data twice)."""
    return bytes(size)


class _Frames:
    """Decoded frames gathered into one preallocated ``bytes`` object when each has the
    expected size (a large multi-frame object then costs its native size once, not twice as
    with a join). The object is new and not shared until :meth:`data` returns it; it is
    written through ctypes."""

    BIG = 1 << 20

    def __init__(self, geometry: "Geometry"):
        self.size = geometry.frame_bytes
        self.expected = max(1, geometry.frames)
        total = self.size * self.expected
        self.buffer: bytes | None = _fresh_bytes(total) if self.expected > 1 and total >= self.BIG else None
        self.address = ctypes.cast(ctypes.c_char_p(self.buffer), ctypes.c_void_p).value if self.buffer else 0
        self.parts: list[bytes] = []
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def append(self, arr: np.ndarray) -> None:
        view = memoryview(arr).cast("B")  # type: ignore[arg-type]
        if self.buffer is not None and len(view) == self.size and self.count < self.expected and not self.parts:
            source = np.frombuffer(view, np.uint8)
            ctypes.memmove((self.address or 0) + self.count * self.size, source.ctypes.data, self.size)
        else:
            if self.buffer is not None:          # sizes differ: go on with a list
                self.parts = [bytes(self.buffer[i * self.size:(i + 1) * self.size]) for i in range(self.count)]
                self.buffer = None
            self.parts.append(view.tobytes())
        self.count += 1

    def data(self) -> bytes:
        if self.buffer is not None:
            if self.count < self.expected:
                return self.buffer[:self.count * self.size]
            buffer, self.buffer = self.buffer, None
            return buffer
        return b"".join(self.parts)


def decode(ds: Dataset, counters: CounterSink = NULL) -> bool:
    """Make encapsulated pixel data native Explicit VR Little Endian, in place (YCbCr is
    converted to RGB, planes interleaved). True if the data set changed."""
    uid = transfer_syntax(ds)
    row = ts.syntax(uid)
    if "PixelData" not in ds or row is None or not row.encapsulated:
        if row is None and "PixelData" in ds and ds["PixelData"].is_undefined_length:
            raise CodecError(f"unknown compressed transfer syntax {uid}", sop_of(ds))
        return False
    geometry = Geometry.of(ds)
    _check_size(ds, geometry, row.name)
    decoder = _decoder(uid)
    parts: _Frames = _Frames(geometry)
    props: dict = {}
    try:
        plugins = _plugins(decoder)
        for plugin in plugins:
            try:
                parts = _Frames(geometry)
                for arr, props in decoder.iter_array(ds, as_rgb=True, decoding_plugin=plugin):
                    parts.append(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False))
                break
            except BaseException as exc:
                if plugin == plugins[-1] or not is_library_failure(exc):
                    raise
    except CodecError:
        raise
    except BaseException as exc:
        if not is_library_failure(exc):
            raise
        message = str(exc).strip().splitlines()
        raise CodecError(f"decode failed: {' '.join(line.strip() for line in message)[:300]}",
                         sop_of(ds), row.name) from None
    if not parts:
        raise CodecError("no frames in the pixel data", sop_of(ds), row.name)
    counters.add(family_counter(row.family))
    _set_native(ds, parts.data(), geometry.bits_allocated)
    set_transfer_syntax(ds, ts.EXPLICIT_LE)
    if props:
        ds.PhotometricInterpretation = props.get("photometric_interpretation", geometry.photometric)
        if int(props.get("samples_per_pixel", geometry.samples)) > 1:
            ds.PlanarConfiguration = 0
    if "NumberOfFrames" in ds or len(parts) > 1:
        ds.NumberOfFrames = len(parts)
    return True


def frames(ds: Dataset, *, as_rgb: bool = True) -> np.ndarray:
    """All frames as an array shaped (frames, rows, columns[, samples]), for any transfer
    syntax including NKI; the data set is not changed."""
    if has_nki(ds):
        work = Dataset(ds)
        work.file_meta = getattr(ds, "file_meta", FileMetaDataset())
        expand_nki(work)
        ds = work
    if "PixelData" not in ds:
        raise CodecError("no pixel data", sop_of(ds))
    geometry = Geometry.of(ds)
    uid = transfer_syntax(ds)
    _check_size(ds, geometry, ts.name(uid))
    decoder = _decoder(uid if ts.syntax(uid) else ts.EXPLICIT_LE)
    try:
        plugins = _plugins(decoder)
        for plugin in plugins:
            try:
                arr, _ = decoder.as_array(ds, as_rgb=as_rgb, decoding_plugin=plugin)
                break
            except BaseException as exc:
                if plugin == plugins[-1] or not is_library_failure(exc):
                    raise
    except BaseException as exc:
        if not is_library_failure(exc):
            raise
        raise CodecError(f"cannot read pixel data: {str(exc).strip().splitlines()[0][:200]}",
                         sop_of(ds), ts.name(uid)) from None
    shape = (geometry.frames, geometry.rows, geometry.columns) + ((geometry.samples,) if geometry.samples > 1 else ())
    try:
        return arr.reshape(shape)
    except ValueError:
        return arr.reshape((-1,) + shape[1:])
