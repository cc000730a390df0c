"""A stored file's header straight to DICOM JSON, for WADO-RS metadata.

The file is mapped into memory and walked element by element (PS3.5 §7: explicit or
implicit VR little endian, defined and undefined lengths, sequences, encapsulated pixel
data); large binary values are never touched and become BulkDataURIs. Values go through
:func:`.dicomjson.raw_json`; whatever it does not handle (other character sets,
ambiguous VRs, big endian, deflate) is left to pydicom, element by element or for the
whole file.
"""
from __future__ import annotations

import functools
import mmap
import struct
from pathlib import Path
from typing import Callable

from pydicom.datadict import dictionary_VR

from .dicomjson import BULK_THRESHOLD, BULK_VRS, raw_json

LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
EXPLICIT_LE, IMPLICIT_LE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"
PLAIN_CHARSETS = {"", "ISO_IR 6", "ISO_IR 100", "ISO 2022 IR 6", "ISO 2022 IR 100"}


class Unsupported(Exception):
    """This file needs the general (pydicom) path."""


@functools.lru_cache(maxsize=8192)
def _implicit_vr(tag: int) -> str | None:
    if (tag >> 16) & 1:
        return "LO" if 0x0010 <= (tag & 0xFFFF) <= 0x00FF else "UN"     # private creator
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return "UN"
    return None if " or " in vr else vr


def file_json(path: Path, bulk_uri: Callable[[list[str]], str]) -> dict:
    """The DICOM JSON object of a stored file; raises :class:`Unsupported` when it must be
    read by pydicom instead."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        if size < 8:
            raise Unsupported("file too short")
        buf = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        return _parse_file(buf, bulk_uri)
    except (struct.error, IndexError, ValueError) as exc:     # truncated or malformed: pydicom decides
        raise Unsupported(str(exc)) from exc
    finally:
        buf.close()


def _parse_file(buf, bulk_uri) -> dict:
    pos, ts = 0, ""
    if len(buf) >= 132 and buf[128:132] == b"DICM":
        pos = 132
        while pos + 8 <= len(buf) and int.from_bytes(buf[pos:pos + 2], "little") == 2:
            elem = int.from_bytes(buf[pos + 2:pos + 4], "little")
            vr = bytes(buf[pos + 4:pos + 6])
            if vr in LONG_VRS:
                length, start = int.from_bytes(buf[pos + 8:pos + 12], "little"), pos + 12
            else:
                length, start = int.from_bytes(buf[pos + 6:pos + 8], "little"), pos + 8
            if elem == 0x0010:
                ts = bytes(buf[start:start + length]).decode("latin-1").rstrip("\0 ")
            pos = start + length
        implicit = ts == IMPLICIT_LE
        if not implicit and ts not in ("", EXPLICIT_LE) and not ts.startswith("1.2.840.10008.1.2.4") \
                and ts != "1.2.840.10008.1.2.5":
            raise Unsupported(f"transfer syntax {ts}")        # big endian, deflate, others
    else:
        vr = bytes(buf[4:6])
        implicit = not (vr.isalpha() and vr.isupper())
    state = {"charset": ""}
    obj, _ = _parse(buf, pos, len(buf), implicit, bulk_uri, (), state, top=True)
    return obj


_TAG_LEN = struct.Struct("<HHL")       # implicit: group, element, 32-bit length
_TAG_VR_LEN = struct.Struct("<HH2sH")  # explicit: group, element, VR, 16-bit length
_LONG_LEN = struct.Struct("<L")


def _parse(buf, pos: int, end: int, implicit: bool, bulk_uri, path: tuple, state: dict,
           top: bool = False) -> tuple[dict, int]:
    out: dict = {}
    unpack_implicit, unpack_explicit, unpack_long = _TAG_LEN.unpack_from, _TAG_VR_LEN.unpack_from, _LONG_LEN.unpack_from
    while pos + 8 <= end:
        if implicit:
            group, element, length = unpack_implicit(buf, pos)
            tag = (group << 16) | element
            start = pos + 8
        else:
            group, element, raw_vr, length = unpack_explicit(buf, pos)
            tag = (group << 16) | element
            start = pos + 8
        if tag == ITEM_END:
            return out, pos + 8
        if tag in (ITEM, SEQ_END):
            raise Unsupported("item tag inside a data set")
        if implicit:
            vr = _implicit_vr(tag)
            if vr is None:
                raise Unsupported(f"ambiguous VR of {tag:08X} in implicit VR")
            if length == UNDEFINED and vr not in ("SQ", "OB", "OW", "UN"):
                raise Unsupported("undefined length")
            if length == UNDEFINED and vr == "UN":
                vr = "SQ"
        else:
            if raw_vr in LONG_VRS:
                (length,) = unpack_long(buf, pos + 8)
                start = pos + 12
            elif not (raw_vr.isalpha() and raw_vr.isupper()):
                raise Unsupported(f"bad VR at {pos}")
            vr = raw_vr.decode("latin-1")
            if vr == "UN" and not group & 1 and length != UNDEFINED:
                vr = _implicit_vr(tag) or "UN"              # as pydicom: a known public tag gets its VR
        key = f"{tag:08X}"
        if vr == "SQ":
            items, pos = _sequence(buf, start, length, end, implicit, bulk_uri, path + (key,), state)
            if element != 0 and group != 2:
                out[key] = {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}
            continue
        if length == UNDEFINED:                    # encapsulated pixel data: skip the fragments
            pos = _skip_fragments(buf, start, end)
            out[key] = {"vr": vr, "BulkDataURI": bulk_uri(list(path + (key,)))}
            continue
        pos = start + length
        if pos > end:
            raise Unsupported("value beyond the end of the file")
        if element == 0 or group == 2:
            continue
        if length > BULK_THRESHOLD and vr in BULK_VRS:
            out[key] = {"vr": vr, "BulkDataURI": bulk_uri(list(path + (key,)))}
            continue
        value = buf[start:pos]
        if tag == 0x00080005:
            state["charset"] = value.decode("latin-1").strip(" \0")
        item = raw_json(vr, value)
        if item is None:
            item = _general(tag, vr, value, state)
        out[key] = item
    return out, pos


def _sequence(buf, pos, length, end, implicit, bulk_uri, path, state) -> tuple[list, int]:
    stop = end if length == UNDEFINED else pos + length
    items: list = []
    while pos + 8 <= stop:
        tag = (int.from_bytes(buf[pos:pos + 2], "little") << 16) | int.from_bytes(buf[pos + 2:pos + 4], "little")
        item_length = int.from_bytes(buf[pos + 4:pos + 8], "little")
        pos += 8
        if tag == SEQ_END:
            return items, pos
        if tag != ITEM:
            raise Unsupported("sequence without item tag")
        item_end = stop if item_length == UNDEFINED else pos + item_length
        obj, pos = _parse(buf, pos, item_end, implicit, bulk_uri, path + (str(len(items)),), state)
        if item_length != UNDEFINED:
            pos = item_end
        items.append(obj)
    if length == UNDEFINED:
        raise Unsupported("sequence not closed")
    return items, stop


def _skip_fragments(buf, pos: int, end: int) -> int:
    while pos + 8 <= end:
        tag = (int.from_bytes(buf[pos:pos + 2], "little") << 16) | int.from_bytes(buf[pos + 2:pos + 4], "little")
        length = int.from_bytes(buf[pos + 4:pos + 8], "little")
        pos += 8
        if tag == SEQ_END:
            return pos
        if tag != ITEM or length == UNDEFINED:
            raise Unsupported("bad fragment")
        pos += length
    raise Unsupported("encapsulated pixel data not closed")


def _general(tag: int, vr: str, value: bytes, state: dict) -> dict:
    """One element through pydicom (character sets, unusual values)."""
    from pydicom.dataelem import RawDataElement
    from pydicom.dataset import Dataset
    from pydicom.tag import Tag

    from .dicomjson import to_json_dict
    ds = Dataset()
    if state["charset"] and state["charset"] not in PLAIN_CHARSETS:
        ds.SpecificCharacterSet = state["charset"].split("\\")
    ds._dict[Tag(tag)] = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)
    found = to_json_dict(ds).get(f"{tag:08X}")
    return found if found is not None else {"vr": vr}


UID_TAGS = (0x00080016, 0x00080018, 0x0020000D, 0x0020000E)


def quick_uids(raw: bytes, implicit: bool) -> dict[int, str]:
    """SOP class/instance, study and series UIDs of a little-endian data set (no
    preamble, no meta group), walking the top level only and stopping after (0020,000E);
    raises :class:`Unsupported` when the walk is not possible."""
    found: dict[int, str] = {}
    pos, end = 0, len(raw)
    try:
        while pos + 8 <= end:
            if implicit:
                group, element, length = _TAG_LEN.unpack_from(raw, pos)
                start, vr = pos + 8, ""
            else:
                group, element, raw_vr, length = _TAG_VR_LEN.unpack_from(raw, pos)
                start = pos + 8
                if raw_vr in LONG_VRS:
                    (length,) = _LONG_LEN.unpack_from(raw, pos + 8)
                    start = pos + 12
                vr = raw_vr.decode("latin-1")
            tag = (group << 16) | element
            if tag > 0x0020000E:
                break
            if length == UNDEFINED:
                if implicit or vr in ("SQ", "UN"):
                    _items, pos = _sequence(raw, start, length, end, implicit, lambda p: "", (), {"charset": ""})
                    continue
                raise Unsupported("undefined length before the UIDs")
            pos = start + length
            if tag in UID_TAGS:
                found[tag] = raw[start:pos].decode("latin-1").strip(" \0")
    except (struct.error, IndexError, ValueError) as exc:
        raise Unsupported(str(exc)) from exc
    return found
