"""A data set over scanned bytes whose top-level elements are made on first use.

The import steps of ingest (converters, Lua ``Data``, the worklist step) typically read a
handful of the ~250 top-level elements of an object and change one or two. Making every
element up front, and walking all of them again to find what changed, cost more than the
steps themselves. :func:`lazy_dataset` gives a pydicom :class:`~pydicom.dataset.Dataset`
whose ``_dict`` is a :class:`ScannedElements`: each element is made from the bytes (as the
``RawDataElement`` pydicom's ``read_dataset`` would give, PS3.5 §7.1) the first time it is
looked up, and the mapping knows which elements were looked up, set, added or deleted
(:meth:`ScannedElements.touched`), so change detection and re-encoding only visit those.

Anything that views the whole mapping (iteration, ``keys``/``items``/``values``, ``len`` is
exempt, copies, pickling, comparison) makes every element first, so pydicom and other code
see an ordinary data set.
"""
from __future__ import annotations

import copy
import io
from typing import Any, Iterator

from pydicom.charset import convert_encodings
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_dataset
from pydicom.tag import BaseTag
from pydicom.uid import UID

from .scan import (
    _LE_LONG,
    _LE_TAG_LEN,
    _LE_TAG_VR_LEN,
    _VR_TEXT,
    DEFLATED,
    EXPLICIT_BE,
    IMPLICIT_LE,
    LONG_VRS,
    Buffer,
    Element,
    Fields,
    Scan,
)

__all__ = ["ScannedElements", "dataset_of", "lazy_dataset", "plain_text", "scanned_elements"]

_NEW_TUPLE = tuple.__new__
_GET, _SET, _DEL, _CONTAINS = dict.get, dict.__setitem__, dict.__delitem__, dict.__contains__


class ScannedElements(dict):
    """``tag → element`` of one scanned data set, an element made when first looked up.

    The dict itself holds the elements made so far and those added since; ``_pending`` the
    scanned ones not made yet (tag → the scan's header offset or element fields);
    ``_original`` the element first made for each scanned tag (for one replaced before it was
    read: where it is in the bytes, made when asked for), to tell what changed."""

    __slots__ = ("_data", "_implicit", "_pending", "_original")

    def __init__(self, data: Buffer, implicit: bool, pending: dict[int, Any]):
        super().__init__()
        self._data = data
        self._implicit = implicit
        self._pending = pending
        self._original: dict[int, Any] = {}

    # -- making elements -----------------------------------------------------------------
    def _make(self, key: Any, tag: int) -> None:
        """Move scanned ``tag`` from pending into the mapping, under ``key`` (the caller's
        tag object: pydicom looks the element up again with the same one, and identical
        keys skip BaseTag's Python-level ``__eq__``)."""
        elem = self._element(tag, self._pending.pop(tag))
        self._original[tag] = elem
        _SET(self, key if isinstance(key, BaseTag) else BaseTag(tag), elem)

    def make_all(self) -> None:
        """Make every pending element and order the mapping by tag (as read_dataset does)."""
        if not self._pending:
            return
        for tag in list(self._pending):
            self._make(tag, tag)
        ordered = sorted(dict.items(self))
        dict.clear(self)
        dict.update(self, ordered)

    # -- what changed --------------------------------------------------------------------
    def touched(self) -> set[int]:
        """Tags whose element may differ from the scanned bytes: made (looked up or set),
        added or deleted; every other scanned element is still exactly its bytes."""
        return {int(key) for key in dict.keys(self)} | self._original.keys()

    def original(self, tag: int) -> Any:
        """The element first made for scanned ``tag`` (None: not scanned or not made yet)."""
        found = self._original.get(tag)
        if found is not None and _is_position(found):          # replaced unread: made now
            found = self._original[tag] = self._element(tag, found)
        return found

    def replaced_unread(self, tag: int) -> bool:
        """Scanned ``tag`` was set or deleted before anything read it: it differs from its bytes
        (the element it replaced was never made, and need not be to tell that)."""
        return _is_position(self._original.get(tag))

    def peek(self, tag: int) -> Any:
        """The element for ``tag`` as it is, without making or parsing it (None: absent);
        a pending element is read from the bytes and not kept, so it stays untouched."""
        where = self._pending.get(tag)
        return _GET(self, tag) if where is None else self._element(tag, where)

    def _element(self, tag: int, where: Any) -> Any:
        """The element a pending entry stands for: read from the bytes at a scan position,
        or the element itself when it was read ahead (undefined length)."""
        return _raw_element(self._data, self._implicit, tag, where) if _is_position(where) else where

    def scanned_value(self, tag: int) -> tuple[str | None, bytes] | None:
        """(VR, value bytes) of an element the fast scan recorded and nothing made yet,
        read straight from the bytes (VR None when implicit); None for anything else
        (absent, made, set, or an element the general walker handled)."""
        where = self._pending.get(tag)
        if type(where) is not int:
            return None
        data = self._data
        if self._implicit:
            vr, start, length = None, where + 8, _LE_TAG_LEN.unpack_from(data, where)[2]
        else:
            _, _, code, length = _LE_TAG_VR_LEN.unpack_from(data, where)
            vr, start = _VR_TEXT[code], where + 8
            if code in LONG_VRS:
                start, length = where + 12, _LE_LONG.unpack_from(data, where + 8)[0]
        value = data[start:start + length]
        return vr, value if type(value) is bytes else bytes(value)

    def current(self, tag: int) -> Any:
        """The element now held for ``tag`` without making it (None: absent or pending)."""
        return _GET(self, tag)

    # -- point access (no bulk making) ---------------------------------------------------
    def _ready(self, key: Any) -> None:
        """Make ``key``'s element when it is still pending (pending keys are plain ints)."""
        tag = _as_tag(key)
        if tag is not None and tag in self._pending:
            self._make(key, tag)

    def __getitem__(self, key: Any) -> Any:
        self._ready(key)
        return dict.__getitem__(self, key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._ready(key)
        return _GET(self, key, default)

    def __contains__(self, key: Any) -> bool:
        if _CONTAINS(self, key):
            return True
        tag = _as_tag(key)
        return tag in self._pending

    def __setitem__(self, key: Any, value: Any) -> None:
        tag = _as_tag(key)
        if tag is not None:
            where = self._pending.pop(tag, None)
            if where is not None:         # replaced before it was read: made only if asked for
                self._original[tag] = where
        _SET(self, key, value)

    def __delitem__(self, key: Any) -> None:
        self._ready(key)
        _DEL(self, key)

    def pop(self, key: Any, *default: Any) -> Any:
        self._ready(key)
        return dict.pop(self, key, *default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._ready(key)
        return dict.setdefault(self, key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __len__(self) -> int:
        return dict.__len__(self) + len(self._pending)

    # -- whole-mapping views: make everything first --------------------------------------
    def __iter__(self) -> Iterator[Any]:
        self.make_all()
        return dict.__iter__(self)

    def __reversed__(self) -> Iterator[Any]:
        self.make_all()
        return dict.__reversed__(self)

    def keys(self):
        self.make_all()
        return dict.keys(self)

    def values(self):
        self.make_all()
        return dict.values(self)

    def items(self):
        self.make_all()
        return dict.items(self)

    def popitem(self) -> tuple[Any, Any]:
        self.make_all()
        return dict.popitem(self)

    def clear(self) -> None:
        self.make_all()
        dict.clear(self)

    def copy(self) -> dict:
        self.make_all()
        return dict(dict.items(self))

    __copy__ = copy

    def __deepcopy__(self, memo: dict) -> dict:
        return copy.deepcopy(self.copy(), memo)

    def __reduce__(self) -> Any:
        return dict, (self.copy(),)

    def __eq__(self, other: object) -> bool:
        self.make_all()
        if isinstance(other, ScannedElements):
            other.make_all()
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __or__(self, other: Any) -> dict:
        return self.copy() | dict(other)

    def __ror__(self, other: Any) -> dict:
        return dict(other) | self.copy()

    def __ior__(self, other: Any) -> ScannedElements:
        self.update(other)
        return self

    def __repr__(self) -> str:
        self.make_all()
        return dict.__repr__(self)


def _is_position(where: Any) -> bool:
    """A pending entry that is a scan position (header offset or element fields), not an element."""
    return isinstance(where, int) or type(where) in (Fields, tuple, Element)


def _as_tag(key: Any) -> int | None:
    """The int tag of a mapping key (pending keys are plain ints; None: not a tag)."""
    return key if type(key) is int else (int(key) if isinstance(key, int) else None)


def _raw_element(data: Buffer, implicit: bool, tag: int, where: Any) -> RawDataElement:
    """The RawDataElement read_dataset gives for the defined-length element of the scan."""
    if isinstance(where, int):
        if implicit:
            vr, length, value = None, _LE_TAG_LEN.unpack_from(data, where)[2], where + 8
        else:
            vr_bytes = data[where + 4:where + 6]
            if vr_bytes in LONG_VRS:
                length, value = _LE_LONG.unpack_from(data, where + 8)[0], where + 12
            else:
                length, value = _LE_TAG_VR_LEN.unpack_from(data, where)[3], where + 8
            vr = _VR_TEXT[bytes(vr_bytes)]
    else:
        elem = Element(*where)
        vr, length, value = elem.vr, elem.length, elem.value
    return _NEW_TUPLE(RawDataElement, (BaseTag(tag), vr, length, bytes(data[value:value + length]), value,
                                       implicit, True, True, False))      # RawDataElement(...), faster


def scanned_elements(ds: Dataset) -> ScannedElements | None:
    """The lazy element mapping of ``ds`` (None: an ordinary data set)."""
    elements = ds._dict
    return elements if isinstance(elements, ScannedElements) else None


def _dictionary_vr(tag: int) -> str:
    from pydicom.datadict import dictionary_VR
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


def plain_text(ds: Dataset, tag: int, keyword: str) -> str:
    """``str(ds.get(keyword, ""))`` for a single-valued ASCII text element, read from the
    bytes without parsing (so the element stays untouched) when ``ds`` is lazy."""
    lazy = scanned_elements(ds)
    found = lazy.scanned_value(tag) if lazy is not None else None
    if found is None and lazy is not None:
        elem = lazy.peek(tag)
        if isinstance(elem, RawDataElement) and elem.value is not None:
            found = elem.VR, bytes(elem.value)
    if found is not None:
        vr, value = found[0] or _dictionary_vr(tag), found[1]
        text = value.rstrip(b" \0") if vr == "UI" else value.rstrip(b" ")
        if text.isascii() and not text.startswith(b" ") and b"\\" not in text and b"\0" not in text:
            return text.decode("ascii")
    return str(ds.get(keyword, "") or "")


def lazy_dataset(sc: Scan, data: Buffer | None = None) -> Dataset | None:
    """The data set of the scanned bytes (``data``: the same bytes as ``sc.data``, e.g. an
    immutable copy of a spool view), each top-level element made when first used. An element
    of undefined length is read by pydicom from its own bytes right away. None for big
    endian and deflated data, and for a scan that needed repairs (decode those in full)."""
    ts = sc.transfer_syntax
    if ts in (EXPLICIT_BE, DEFLATED) or sc.needs_repair:
        return None
    implicit = ts == IMPLICIT_LE
    data = sc.data if data is None else data
    pending: dict[int, Any] = dict(sc.elements)
    for tag in sc.undefined:
        elem = Element(*pending[tag])
        part = read_dataset(io.BytesIO(bytes(data[elem.header:elem.end])), implicit, True)
        found = part._dict.get(BaseTag(tag))
        if found is None:
            return None
        pending[tag] = found._replace(value_tell=found.value_tell + elem.header) \
            if isinstance(found, RawDataElement) else found
    elements = ScannedElements(data, implicit, pending)
    charset = elements.scanned_value(0x00080005)   # read, not made: it stays untouched
    encodings = _encodings_of(charset[1]) if charset is not None else _encodings(elements.peek(0x00080005))
    ds = dataset_of(elements)
    ds.__dict__.update(_read_implicit=implicit, _read_little=True, _read_charset=encodings)   # as decoded
    meta = _fresh(FileMetaDataset, {TRANSFER_SYNTAX_TAG: _clone(_syntax_element(ts))})
    ds.__dict__["file_meta"] = meta             # what ``ds.file_meta = meta`` stores
    return ds


_BLANK: dict[type, tuple[dict[str, Any], dict[str, Any]]] = {}


def _fresh(cls: type[Dataset], elements: dict) -> Any:
    """``cls(elements)`` for a pydicom Dataset class, made from the attributes of a blank
    instance (its containers copied) instead of running ``__init__``, whose every
    attribute assignment goes through ``Dataset.__setattr__``."""
    blank = _BLANK.get(cls)
    if blank is None:
        state = cls().__dict__
        blank = _BLANK[cls] = ({k: v for k, v in state.items() if not isinstance(v, (dict, list, set))},
                               {k: v for k, v in state.items() if isinstance(v, (dict, list, set))})
    made = cls.__new__(cls)
    state = made.__dict__
    state.update(blank[0])
    for name, value in blank[1].items():
        state[name] = value.copy()
    state["_dict"] = elements
    return made


def dataset_of(elements: dict) -> Dataset:
    """``Dataset(elements)`` (the mapping itself becomes its ``_dict``), made as :func:`_fresh`
    makes one: a command set's data set is made for every request."""
    return _fresh(Dataset, elements)


def _clone(elem: DataElement) -> DataElement:
    """A shallow copy of a DataElement (``copy.copy`` without its reduce protocol)."""
    made = DataElement.__new__(DataElement)
    made.__dict__.update(elem.__dict__)
    return made


TRANSFER_SYNTAX_TAG = BaseTag(0x00020010)
_CHARSETS: dict[bytes, Any] = {}
_SYNTAXES: dict[str, DataElement] = {}


def _encodings(charset: Any) -> Any:
    """Python encodings of a Specific Character Set element (PS3.3 C.12.1.1.2), remembered by
    its bytes (a handful of values occur)."""
    if charset is None:
        return "iso8859"
    if not isinstance(charset, RawDataElement):
        return convert_encodings(charset.value)
    return _encodings_of(bytes(charset.value or b""))


def _encodings_of(value: bytes) -> Any:
    """:func:`_encodings` of a Specific Character Set given by its value bytes."""
    found = _CHARSETS.get(value)
    if found is None:
        elem = RawDataElement(BaseTag(0x00080005), "CS", len(value), value, 0, False, True)
        found = convert_encodings(convert_raw_data_element(elem).value)
        if len(_CHARSETS) < 64:
            _CHARSETS[value] = found
    return list(found) if isinstance(found, list) else copy.copy(found)


def _syntax_element(ts: str) -> DataElement:
    elem = _SYNTAXES.get(ts)
    if elem is None:
        elem = _SYNTAXES[ts] = DataElement(TRANSFER_SYNTAX_TAG, "UI", UID(ts))
    return elem
