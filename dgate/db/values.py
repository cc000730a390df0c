"""Element values as Conquest stores and returns them (conquest-storage.md §3.6).

Values are handled as ``str`` holding the element's *bytes* one-to-one (decoded as
Latin-1), so the database receives exactly the bytes the original would write,
whatever the character set, and an existing database reads back unchanged.

Stored form (``MakeSafeStringValues``, ``SetString``, ``MakeSafeDate``):

* text: all trailing spaces and NULs removed (``RGB\\0`` → ``RGB``), leading spaces kept;
  only spaces → ``''``;
* DT_UI: ends at the first NUL;
* DT_UINT16 / DT_UINT32: the binary value in decimal; DT_FL / DT_FD: ``%.16g``;
* SQL_C_DATE columns: ``.`` and ``/`` removed (``1998.04.14`` → ``19980414``);
* ``UTF8ToDB``: bytes ≥ 0x80 are written as two-byte UTF-8.

Returned form (``ConstructVRFromSQL``): strings padded to even length with a space,
UIDs with a NUL; numbers as binary.
"""
from __future__ import annotations

import struct
from typing import Any

from pydicom.charset import encode_string
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from ..config.kfactor import DBEntry

_BINARY_FORMATS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d"}


def element_bytes(ds: Dataset, tag: int) -> bytes | None:
    """Raw value bytes of a top-level element, or None when absent.

    Works on raw (not yet decoded) elements as read from a file or the network, and
    on elements set in code (encoded with the data set's character set).
    """
    try:
        elem = ds.get_item(tag)
    except KeyError:
        return None
    if elem is None:
        return None
    if isinstance(elem, RawDataElement):
        return bytes(elem.value) if elem.value is not None else b""
    return _encode_value(ds, elem)


def _encode_value(ds: Dataset, elem: DataElement) -> bytes:
    value = elem.value
    if value is None or value == "":
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    fmt = _BINARY_FORMATS.get(elem.VR)
    if fmt:
        values = value if isinstance(value, (list, MultiValue)) else [value]
        order = "<" if ds.is_little_endian in (None, True) else ">"
        return struct.pack(order + fmt * len(values), *values)
    if isinstance(value, (list, MultiValue)):
        text = "\\".join(_as_text(v) for v in value)
    else:
        text = _as_text(value)
    encodings = getattr(ds, "_character_set", None) or ["iso8859"]
    try:
        return encode_string(text, encodings)
    except Exception:
        return text.encode("latin-1", "replace")


def _as_text(value: Any) -> str:
    original = getattr(value, "original_string", None)
    if isinstance(original, str):
        return original
    if isinstance(value, PersonName):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def binary_to_text(raw: bytes, fmt: str, little_endian: bool = True) -> str:
    """Decimal text of a binary number as Conquest stores DT_UINT16/32 and DT_FL/FD."""
    size = struct.calcsize(fmt)
    if len(raw) < size:
        return ""
    (number,) = struct.unpack(("<" if little_endian else ">") + fmt, raw[:size])
    if fmt in "fd":
        return "%.16g" % number
    return str(number)


def stored_value(raw: bytes, entry: DBEntry, little_endian: bool = True,
                 utf8_to_db: bool = False) -> str:
    """The text Conquest writes to ``entry``'s column for raw element bytes."""
    kind = entry.dicom_type
    if kind == "DT_UINT16":
        return binary_to_text(raw, "H", little_endian)
    if kind == "DT_UINT32":
        return binary_to_text(raw, "I", little_endian)
    if kind == "DT_FL":
        return binary_to_text(raw, "f", little_endian)
    if kind == "DT_FD":
        return binary_to_text(raw, "d", little_endian)
    text = raw.decode("latin-1")
    if kind == "DT_UI":
        text = text.split("\0", 1)[0]
    text = text.rstrip(" \0")
    if entry.sql_type == "SQL_C_DATE":
        text = text.replace(".", "").replace("/", "")
    if utf8_to_db:
        text = text.encode("utf-8").decode("latin-1")
    return text


def from_db(text: str | None, utf8_from_db: bool = False) -> str:
    """A column value as read back; NULL reads as empty, ``UTF8FromDB`` maps to Latin-1."""
    if text is None:
        return ""
    if not utf8_from_db:
        return text
    raw = text.encode("latin-1")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return text
    return "".join(ch if ord(ch) < 256 else "_" for ch in decoded)


def response_value(text: str, entry: DBEntry) -> bytes:
    """``ConstructVRFromSQL``: the element bytes returned for a column value."""
    kind = entry.dicom_type
    if not text:
        return b""
    if kind in ("DT_UINT16", "DT_UINT32"):
        try:
            number = int(text)
        except ValueError:
            return b""
        mask = 0xFFFF if kind == "DT_UINT16" else 0xFFFFFFFF
        return struct.pack("<H" if kind == "DT_UINT16" else "<I", number & mask)
    if kind in ("DT_FL", "DT_FD"):
        try:
            real = float(text)
        except ValueError:
            return b""
        return struct.pack("<f" if kind == "DT_FL" else "<d", real)
    raw = text.encode("latin-1", "replace")
    if len(raw) % 2:
        raw += b"\0" if kind == "DT_UI" else b" "
    return raw
