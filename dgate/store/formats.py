"""Encoded objects and the two on-disk formats (conquest-storage.md §6.5).

* ``.dcm``: 128-byte preamble, ``DICM``, explicit-LE meta group (0002,0000 .. 0002,0013
  with Conquest's implementation UID and ``1.5.0/OTHER``), then the data set bytes in
  their transfer syntax, written exactly as received;
* ``.v2``: the data set in implicit VR little endian with no preamble and no meta
  header, as the original writes it: group 0002 inline (at least 0002,0010, set to implicit
  LE), no group lengths, every sequence and item with undefined length and delimiters.

Files are written to ``<name>.partial`` and renamed, so a crash never leaves a
half-written object under its real name (the incoming-folder scan skips ``.partial``).
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom.dataelem import DataElement
from pydicom.dataelem import RawDataElement as _RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_file_meta_info, read_dataset, read_preamble
from pydicom.filewriter import write_data_element, write_dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag as _BaseTag
from pydicom.uid import UID
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from .lazyset import TRANSFER_SYNTAX_TAG, scanned_elements
from .scan import ascending, splice

if TYPE_CHECKING:
    from .scan import Scan

IMPLEMENTATION_UID = "1.2.826.0.1.3680043.2.135.1066.101"
IMPLEMENTATION_VERSION = "1.5.0/OTHER"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
UNCOMPRESSED = {IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE}
PIXEL_DATA = 0x7FE00010


class BadObject(ValueError):
    """Input that is not a usable DICOM object."""


@dataclass
class Encoded:
    """A data set as bytes in a transfer syntax (no preamble, no meta group)."""

    raw: bytes
    transfer_syntax: str

    @property
    def implicit(self) -> bool:
        return self.transfer_syntax == IMPLICIT_LE

    @property
    def little_endian(self) -> bool:
        return self.transfer_syntax != EXPLICIT_BE

    def _stream(self) -> io.BytesIO:
        raw = self.raw
        if self.transfer_syntax == DEFLATED:
            raw = zlib.decompress(raw, -zlib.MAX_WBITS)
        return io.BytesIO(raw)

    def header(self) -> Dataset:
        """The elements before the pixel data (cheap: pixels are not read)."""
        return self._read(stop_before_pixels=True)

    def dataset(self) -> Dataset:
        """The whole data set, decoded."""
        return self._read(stop_before_pixels=False)

    def _read(self, stop_before_pixels: bool) -> Dataset:
        stop = (lambda tag, vr, length: tag >= PIXEL_DATA) if stop_before_pixels else None
        try:
            ds = read_dataset(self._stream(), self.implicit, self.little_endian, stop_when=stop)
        except Exception as exc:
            raise BadObject(f"cannot parse data set: {exc}") from exc
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = UID(self.transfer_syntax)
        ds.set_original_encoding(self.implicit, self.little_endian)
        return ds

    @classmethod
    def from_dataset(cls, ds: Dataset, transfer_syntax: str | None = None) -> "Encoded":
        ts = transfer_syntax or str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "")
                                    or EXPLICIT_LE)
        fp = DicomBytesIO()
        fp.is_little_endian = ts != EXPLICIT_BE
        fp.is_implicit_VR = ts == IMPLICIT_LE
        body = Dataset({tag: elem for tag, elem in ds.items() if tag.group != 2})
        if None not in ds.original_encoding:     # raw elements of a decoded object are written as they are
            implicit, little = ds.original_encoding
            body.set_original_encoding(implicit, little, ds.original_character_set)
        write_dataset(fp, body)
        raw = fp.getvalue()
        if ts == DEFLATED:
            compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
            raw = compressor.compress(raw) + compressor.flush()
        return cls(raw, ts)


class _Meta:
    """The ``file_meta`` of a :class:`ScanHeader`: just the transfer syntax."""

    def __init__(self, transfer_syntax: str):
        self.TransferSyntaxUID = UID(transfer_syntax)

    def __contains__(self, keyword: object) -> bool:
        return keyword == "TransferSyntaxUID"


class ScanHeader:
    """What file names, FixImage and the index read of an object, without pydicom:
    a stand-in for a Dataset of raw top-level elements, built on demand from a scan.

    Offers ``get_item(tag)`` (a ``RawDataElement`` or None, as
    :func:`dgate.db.values.element_bytes` expects), ``tag in header``, ``file_meta``
    and ``dataset()`` (the full pydicom decode, for callers that need one)."""

    def __init__(self, sc: "Scan", transfer_syntax: str):
        self.scan = sc
        self.transfer_syntax = transfer_syntax
        self.file_meta = _Meta(transfer_syntax)
        self.is_little_endian = sc.little_endian
        self.is_implicit_VR = sc.transfer_syntax == IMPLICIT_LE

    def get_item(self, tag: int):
        elem = self.scan.element(int(tag))
        if elem is None:
            return None
        value = b"" if elem.length == 0xFFFFFFFF else bytes(self.scan.data[elem.value:elem.value + elem.length])
        return _RawDataElement(_BaseTag(tag), elem.vr, elem.length, value, elem.value, self.is_implicit_VR,
                               self.is_little_endian, True, False)

    def __contains__(self, tag: object) -> bool:
        return isinstance(tag, int) and self.scan.element(tag) is not None

    def dataset(self) -> Dataset:
        syntax = EXPLICIT_LE if self.transfer_syntax == DEFLATED else self.transfer_syntax
        return Encoded(bytes(self.scan.data), syntax).dataset()


@dataclass
class ObjectFile:
    """Where the data set of a stored file is, without reading it: the transfer syntax and
    UIDs (from the meta group, or from the data set of a ``.v2`` file)."""

    path: Path
    transfer_syntax: str
    sop_class: str
    sop_instance: str
    offset: int          # where the data set starts
    size: int            # data set bytes

    def chunks(self, block: int = 1 << 20):
        """The data set bytes in fresh blocks (streamed from disk)."""
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            left = self.size
            while left > 0:
                chunk = handle.read(min(block, left))
                if not chunk:
                    raise BadObject(f"{self.path} is shorter than its meta group says")
                left -= len(chunk)
                yield chunk

    def read(self) -> bytes:
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            return handle.read(self.size)


def object_file(path: str | os.PathLike) -> ObjectFile:
    """:class:`ObjectFile` of a ``.dcm`` (Part 10) or ``.v2`` file; raises BadObject/OSError."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(132)
        if len(head) == 132 and head[128:132] == b"DICM":
            group = handle.read(12)
            if len(group) < 12 or group[:4] != b"\x02\x00\x00\x00":
                raise BadObject(f"{path}: meta group without (0002,0000)")
            (length,) = struct.unpack_from("<I", group, 8)
            meta = handle.read(length)
            values = _meta_values(meta)
            ts = values.get(0x0010, IMPLICIT_LE) or IMPLICIT_LE
            offset = 144 + length
            return ObjectFile(path, ts, values.get(0x0002, ""), values.get(0x0003, ""), offset, size - offset)
    encoded = read_file(path)
    from .scan import StructureError, scan
    try:
        found = scan(encoded.raw, encoded.transfer_syntax)
    except StructureError as exc:
        raise BadObject(f"{path}: {exc}") from exc
    return ObjectFile(path, encoded.transfer_syntax, found.text(0x00080016), found.text(0x00080018), 0, size)


def _meta_values(meta: bytes) -> dict[int, str]:
    """UI values of the meta group elements, by element number."""
    out = {}
    pos = 0
    while pos + 8 <= len(meta):
        group, element = struct.unpack_from("<HH", meta, pos)
        vr = meta[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"UT", b"SQ"):
            (length,) = struct.unpack_from("<I", meta, pos + 8)
            start = pos + 12
        else:
            (length,) = struct.unpack_from("<H", meta, pos + 6)
            start = pos + 8
        if group != 2:
            break
        if vr == b"UI":
            out[element] = meta[start:start + length].split(b"\0", 1)[0].decode("ascii", "replace").strip()
        pos = start + length
    return out


def read_file(path: str | os.PathLike) -> Encoded:
    """An object file as :class:`Encoded`: Part 10 (meta group read) or a raw ``.v2`` dump."""
    data = Path(path).read_bytes()
    if len(data) >= 132 and data[128:132] == b"DICM":
        fp = io.BytesIO(data)
        read_preamble(fp, False)
        try:
            meta = _read_file_meta_info(fp)
        except Exception as exc:
            raise BadObject(f"broken meta header: {exc}") from exc
        ts = str(meta.get("TransferSyntaxUID", IMPLICIT_LE)).rstrip("\0 ")
        return Encoded(data[fp.tell():], ts)
    if len(data) < 8:
        raise BadObject("file too short to be a DICOM object")
    start, inline_ts = skip_inline_meta(data)
    if inline_ts:
        return Encoded(data[start:], inline_ts)
    # no preamble: implicit LE unless the first element carries an explicit VR
    vr = data[4:6]
    explicit = vr.isalpha() and vr.isupper()
    return Encoded(data, EXPLICIT_LE if explicit else IMPLICIT_LE)


def _meta_element(element: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\0"
    if vr == b"OB":
        return struct.pack("<HH2s2xI", 2, element, vr, len(value)) + value
    return struct.pack("<HH2sH", 2, element, vr, len(value)) + value


def part10_prefix(sop_class: str, sop_instance: str, transfer_syntax: str) -> bytes:
    """Preamble, ``DICM`` and the meta group exactly as dgate 1.5.0e writes them: explicit
    LE, (0002,0000) .. (0002,0013), every odd value NUL-padded (also the SH
    ImplementationVersionName, ``1.5.0/OTHER\\0``), no (0002,0016)."""
    body = b"".join((
        _meta_element(0x0001, b"OB", b"\x00\x01"),
        _meta_element(0x0002, b"UI", sop_class.encode("latin-1")),
        _meta_element(0x0003, b"UI", sop_instance.encode("latin-1")),
        _meta_element(0x0010, b"UI", (transfer_syntax or IMPLICIT_LE).encode("latin-1")),
        _meta_element(0x0012, b"UI", IMPLEMENTATION_UID.encode("latin-1")),
        _meta_element(0x0013, b"SH", IMPLEMENTATION_VERSION.encode("latin-1")),
    ))
    return b"\0" * 128 + b"DICM" + struct.pack("<HH2sHI", 2, 0, b"UL", 4, len(body)) + body


def part10_bytes(encoded: Encoded, sop_class: str, sop_instance: str) -> bytes:
    """The complete ``.dcm`` file content for an encoded data set."""
    return part10_prefix(sop_class, sop_instance, encoded.transfer_syntax) + encoded.raw


def skip_inline_meta(data: bytes) -> tuple[int, str]:
    """Where the data set of a ``.v2`` dump starts after inline group 0002 elements (implicit
    LE, as Conquest writes them), and the syntax its (0002,0010) names ('' when none)."""
    pos, ts = 0, ""
    while pos + 8 <= len(data) and struct.unpack_from("<H", data, pos)[0] == 0x0002:
        element, length = struct.unpack_from("<HI", data, pos + 2)
        if data[pos + 4:pos + 6].isalpha() or length > len(data) - pos - 8:
            return 0, ""                       # explicit or not a Conquest dump: read as it is
        if element == 0x0010:
            ts = data[pos + 8:pos + 8 + length].split(b"\0", 1)[0].decode("latin-1").strip()
        pos += 8 + length
    return (pos, ts or IMPLICIT_LE) if pos else (0, "")


def v2_bytes(ds: Dataset) -> bytes:
    """The ``.v2`` dump of a decoded data set (must be uncompressed), as the original writes
    it (``SaveDICOMDataObject(ACRNEMA_VR_DUMP)``; conquest-storage.md §6.5): implicit VR little
    endian, no preamble; the group 0002 elements the object holds inline, at least (0002,0010),
    which is set to implicit LE (``1.2.840.10008.1.2\\0``); no group-length elements; every
    sequence and item with undefined length, closed by (FFFE,E00D) and (FFFE,E0DD), except an
    empty sequence, which has length 0."""
    meta_in = getattr(ds, "file_meta", None)
    ts = str(getattr(meta_in, "TransferSyntaxUID", IMPLICIT_LE) or IMPLICIT_LE)
    if ts not in UNCOMPRESSED:
        raise BadObject("Cannot write compressed pixel data in v2 format")
    meta = Dataset()
    for source in (meta_in, ds):
        for elem in (source or []):
            if elem.tag.group == 2 and elem.tag.element != 0:
                meta[elem.tag] = elem
    meta.TransferSyntaxUID = UID(IMPLICIT_LE)
    body = _v2_copy(ds, big_endian=ts == EXPLICIT_BE)
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = True
    write_dataset(fp, meta)
    write_dataset(fp, body)
    return fp.getvalue()


_SWAP_SIZES = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def _v2_copy(ds: Dataset, big_endian: bool) -> Dataset:
    """A copy for the ``.v2`` writer: no group 0002, no group lengths, sequences and items of
    undefined length; big-endian word data swapped to little endian."""
    out = Dataset()
    for elem in ds:
        tag = elem.tag
        if tag.group == 2 or (tag.element == 0 and tag.group != 0):
            continue
        if elem.VR == "SQ":
            items = []
            for item in elem.value or []:
                copy = _v2_copy(item, big_endian)
                copy.is_undefined_length_sequence_item = True
                items.append(copy)
            out.add(DataElement(tag, "SQ", Sequence(items), is_undefined_length=bool(items)))   # empty: length 0
            continue
        size = _SWAP_SIZES.get(elem.VR)
        if big_endian and size and isinstance(elem.value, (bytes, bytearray)):
            raw = bytes(elem.value)
            swapped = b"".join(raw[i:i + size][::-1] for i in range(0, len(raw) - len(raw) % size, size))
            out.add(DataElement(tag, elem.VR, swapped + raw[len(raw) - len(raw) % size:]))
            continue
        out.add(elem)
    return out


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through ``<path>.partial`` and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def uids_of_file(path: str | os.PathLike) -> tuple[str, str]:
    """(SOPInstanceUID, PatientID) of a stored object; raises BadObject/OSError."""
    header = read_file(path).header()
    if "SOPInstanceUID" not in header:
        raise BadObject("no SOPInstanceUID")
    return str(header.SOPInstanceUID), str(header.get("PatientID", ""))


def _raw_element_bytes(elem, implicit: bool) -> bytes | None:
    """A raw element of defined length as pydicom's ``write_data_element`` writes it in
    little endian (value as it is; PS3.5 §7.1.2 header), without its writer's overhead;
    None: let pydicom write it."""
    if not isinstance(elem, _RawDataElement) or elem.value is None or elem.length == 0xFFFFFFFF \
            or elem.tag == 0x7FE00010:
        return None
    value, tag = bytes(elem.value), int(elem.tag)
    if implicit:
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value
    vr = elem.VR
    if not vr or len(vr) != 2:
        return None
    if vr in EXPLICIT_VR_LENGTH_32:
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr.encode("ascii"), 0, len(value)) + value
    if len(value) > 0xFFFF:
        return None
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode("ascii"), len(value)) + value


def syntax_of(ds: Dataset) -> str:
    """The Transfer Syntax UID of ``ds.file_meta`` ('' when none), read from its element
    directly when it is a parsed text value."""
    meta = getattr(ds, "file_meta", None)     # an instance attribute: no Dataset.__getattr__
    if meta is None:
        return ""
    elem = getattr(meta, "_dict", {}).get(TRANSFER_SYNTAX_TAG)   # the lazy data sets' key itself: no __eq__
    if type(elem) is DataElement and isinstance(elem.value, str):
        return str(elem.value)
    return str(getattr(meta, "TransferSyntaxUID", "") or "")


def encode_changes(ds: Dataset, before: dict | None, sc: "Scan") -> bytes | None:
    """The bytes of :func:`splice_changes` (None when it cannot splice)."""
    spliced = splice_changes(ds, before, sc)
    return None if spliced is None else spliced[0]


def splice_changes(ds: Dataset, before: dict | None, sc: "Scan") -> tuple[bytes, "Scan | None"] | None:
    """The bytes :meth:`Encoded.from_dataset` would give for ``ds``, made by splicing: the
    top-level elements still as they were decoded from the bytes scanned as ``sc`` are
    copied from those bytes, only the changed, added or parsed ones are encoded by pydicom
    (PS3.5 §7.1: elements in tag order; retired group lengths dropped as pydicom does).
    ``ds`` is a :func:`.lazyset.lazy_dataset` of ``sc`` (``before`` None: it knows what was
    touched) or an ordinary decode with ``before`` = ``dict(ds._dict)`` taken right after it.
    Returns the bytes and their scan (:func:`.scan.splice`; None: scan them), or None when
    this cannot be the same as a full encode: another transfer syntax, character set or
    encoding, unsorted or repaired input."""
    ts = sc.transfer_syntax
    meta = getattr(ds, "file_meta", None)
    if ts in (EXPLICIT_BE, DEFLATED) or sc.needs_repair or meta is None \
            or syntax_of(ds) != ts:
        return None
    implicit = ts == IMPLICIT_LE
    lazy = scanned_elements(ds)
    charset_kept = lazy is not None and lazy.current(0x00080005) is lazy.original(0x00080005)  # not parsed
    if ds.original_encoding != (implicit, True) or \
            (not charset_kept and ds.original_character_set != ds._character_set):
        return None
    scanned = sc.elements
    order = list(scanned)                   # once, for the order check, group lengths and splice
    if not ascending(order):
        return None
    if lazy is not None:
        candidates = lazy.touched().union(sc.group_lengths(order))
        current, original = lazy.current, lazy.original
    else:
        if before is None or len(order) != len(before):
            return None
        now = ds._dict
        candidates = before.keys() | now.keys()
        current, original = now.get, before.get  # type: ignore[assignment]
    encoding: Any = ds.original_character_set if charset_kept else ds.get("SpecificCharacterSet", "iso8859")
    fp: DicomBytesIO | None = None
    changes: dict[int, bytes] = {}
    for tag in candidates:
        group = tag >> 16
        if group == 2 or (tag & 0xFFFF == 0 and group > 6):
            if tag in scanned:
                changes[tag] = b""            # pydicom's writer leaves these out
            continue
        elem = current(tag)
        if elem is None:
            if tag in scanned:
                changes[tag] = b""            # deleted
            continue
        if original(tag) is elem and isinstance(elem, _RawDataElement):
            continue
        encoded = _raw_element_bytes(elem, implicit)
        if encoded is None:
            if fp is None:
                fp = DicomBytesIO()
                fp.is_little_endian, fp.is_implicit_VR = True, implicit
            start = fp.tell()
            try:
                write_data_element(fp, elem, encoding)
            except Exception:
                return None
            encoded = fp.getvalue()[start:]
        changes[tag] = encoded
    return splice(sc, changes, order)
