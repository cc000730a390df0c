"""``Serialize``: Lua table, JSON and DICOMweb text of objects and arrays
(``luaserialize``; conquest-lua-web.md §4), byte-compatible with dgate 1.5.0e.

Elements come in ascending tag order; group lengths and elements without a dictionary
keyword or VR are skipped (the Lua form counts them in ``--[[skipped N UN elements]]``).
Text is byte strings (Latin-1 ``str``), as everywhere in the Lua binding.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from ..config.dictionary import Dictionary
from .elements import NUMERIC, numbers, raw_bytes, vr_of
from .handles import has_file_meta

STRIP_SPACE = {"LO", "CS", "SH", "TM", "DA", "PN", "LT", "UT", "ST"}
BULK = {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}
INTEGER = {"US", "SS", "UL", "SL", "UV", "SV"}
FLOAT = {"FD", "FL"}
LIMIT = 100 * 1024 * 1024


@dataclass
class _Options:
    json: bool
    pixels: bool
    dicomweb: bool
    dic: Dictionary
    meta: bool
    skipped: int = 0


def serialize(target: Dataset | list, dic: Dictionary, json: bool = False, pixels: bool = False,
              dicomweb: bool = False, include_meta: bool = False) -> str:
    """The text of an object (a Dataset) or an array (a list of Datasets)."""
    opt = _Options(bool(json), bool(pixels), bool(dicomweb) and bool(json), dic, include_meta)
    if isinstance(target, Dataset):
        body = _object(target, opt, top=True)
        if opt.dicomweb:
            body = "[" + body + "]"
    else:
        body = _array(list(target), opt, top=True)
    if not opt.json and opt.skipped:
        body += f" --[[skipped {opt.skipped} UN elements]] "
    return body


def _array(items: list, opt: _Options, top: bool = False) -> str:
    inner = ",".join(_object(item, opt, top=top) for item in items)
    return ("[" + inner + "]") if opt.json else ("{" + inner + "}")


def _elements(ds: Dataset, opt: _Options, top: bool) -> list[tuple[int, Dataset]]:
    tags = [(int(tag), ds) for tag in ds.keys()]
    meta = getattr(ds, "file_meta", None) if (top and (opt.meta or has_file_meta(ds))) else None
    if meta is not None:
        tags = [(int(tag), meta) for tag in meta.keys()] + tags
    tags.sort(key=lambda pair: pair[0])
    return tags


def _object(ds: Dataset, opt: _Options, top: bool = False) -> str:
    parts: list[str] = []
    if top and has_file_meta(ds):
        # dgate's file reader adds a group length to every group; those of groups its
        # dictionary does not know (private ones) count as skipped
        groups = {int(tag) >> 16 for tag in ds.keys()} - {2}
        opt.skipped += sum(1 for g in groups if (g << 16) not in ds and (g % 2 or g > 0x7FE0)
                           and opt.dic.by_tag(g << 16) is None)
    for tag, owner in _elements(ds, opt, top):
        if tag & 0xFFFF == 0:
            continue
        entry = opt.dic.by_tag(tag)
        vr = vr_of(owner, tag, opt.dic)
        if entry is None or not entry.keyword or vr in ("UN", "", "??"):
            opt.skipped += 1
            continue
        text = _element(owner, tag, vr, entry.keyword, opt)
        if text is not None:
            parts.append(text)
    return "{" + ",".join(parts) + "}"


def _element(ds: Dataset, tag: int, vr: str, name: str, opt: _Options) -> str | None:
    if opt.dicomweb:
        return _web_element(ds, tag, vr, opt)
    key = f'"{name}":' if opt.json else f"{name}="
    if vr == "SQ":
        value = ds[tag].value
        return key + _array(list(value) if isinstance(value, Sequence) else [], opt)
    if vr in BULK:
        if _no_value(ds, tag):          # empty, or encapsulated (its fragments are items in dgate)
            return key + '""'
        if not opt.pixels:
            return None if (opt.json or vr == "OB") else f"{name}=nil --[[{vr} not serialized]]"
        if vr == "OB" and not opt.json:
            return f"{name}=nil --[[{vr} not serialized]]"
        values = _bulk_numbers(ds, tag, vr, opt)
        return key + _numbers(values, vr, opt, force_list=True)
    if vr in INTEGER or vr in FLOAT:
        values = numbers(ds, tag, vr, opt.dic)
        if not values:
            return None
        return key + _numbers(values, vr, opt)
    raw = raw_bytes(ds, tag, opt.dic) or b""
    if len(raw) > LIMIT:
        raw = raw[:LIMIT]
    return key + '"' + escape(_strip_pad(raw, vr), opt.json) + '"'


def _no_value(ds: Dataset, tag: int) -> bool:
    """dgate's element has length 0: empty, or encapsulated pixel data (undefined length;
    1.5.0e writes ``""`` for it, with or without pixels)."""
    elem = ds.get_item(tag)
    if elem is None:
        return True
    if isinstance(elem, RawDataElement):
        return elem.length in (0, 0xFFFFFFFF)
    return elem.is_undefined_length or not elem.value


def _bulk_numbers(ds: Dataset, tag: int, vr: str, opt: _Options) -> list:
    raw = raw_bytes(ds, tag, opt.dic) or b""
    if vr == "OW":
        count = len(raw) // 2
        return list(struct.unpack("<%dh" % count, raw[:count * 2]))
    if vr in ("OF", "OD", "OL"):
        return numbers(ds, tag, vr, opt.dic)
    return list(raw)


def _numbers(values: list, vr: str, opt: _Options, force_list: bool = False) -> str:
    text = [("%f" % v) if vr in FLOAT or vr in ("OF", "OD") else "%d" % v for v in values]
    if len(text) == 1 and not force_list:
        return text[0]
    return ("[" + ",".join(text) + "]") if opt.json else ("{" + ",".join(text) + "}")


def _strip_pad(raw: bytes, vr: str) -> bytes:
    if vr == "UI" and raw.endswith(b"\0"):
        return raw[:-1]
    if vr in STRIP_SPACE and raw.endswith(b" "):
        return raw[:-1]
    return raw


_CONTROL = {10: "\\n", 9: "\\t", 13: "\\r", 12: "\\f", 8: "\\b", 7: "\\!", 11: "\\6"}


def escape(raw: bytes, json: bool) -> str:
    """Escape as dgate does: ``"`` and ``\\`` (and ``/`` in JSON), control characters
    as ``\\n \\t \\r \\f \\b``, bytes 7 and 11 as ``\\!`` and ``\\6`` (the original's),
    others below 32 as ``\\ddd`` (Lua) or ``\\u00XX`` (JSON); bytes ≥ 127 unchanged."""
    out = []
    for byte in raw:
        if byte == 0x22:
            out.append('\\"')
        elif byte == 0x5C:
            out.append("\\\\")
        elif byte == 0x2F and json:
            out.append("\\/")
        elif byte < 32:
            special = _CONTROL.get(byte)
            if special:
                out.append(special)
            else:
                out.append("\\u%04x" % byte if json else "\\%03d" % byte)
        else:
            out.append(chr(byte))
    return "".join(out)


# -- DICOMweb --------------------------------------------------------------------------
def _web_element(ds: Dataset, tag: int, vr: str, opt: _Options) -> str | None:
    head = f'"{tag:08X}": {{ "vr": "{vr}", "Value":'
    if vr == "SQ":
        value = ds[tag].value
        items = list(value) if isinstance(value, Sequence) else []
        return head + "[" + ",".join(_object(item, opt) for item in items) + "]}"
    if vr in BULK:
        if _no_value(ds, tag):
            return head + '[""]}'
        if not opt.pixels:
            return None
        return head + _numbers(_bulk_numbers(ds, tag, vr, opt), vr, opt, force_list=True) + "}"
    if vr in INTEGER or vr in FLOAT:
        values = numbers(ds, tag, vr, opt.dic)
        return head + "[" + ",".join(("%f" % v) if vr in FLOAT else "%d" % v for v in values) + "]}"
    raw = raw_bytes(ds, tag, opt.dic) or b""
    text = _strip_pad(raw, vr)
    if vr == "DS":
        texts = [v.lstrip(b"+") for v in text.split(b"\\")] if text else []
        return head + "[" + ",".join(v.decode("latin-1") for v in texts) + "]}"
    if vr == "IS":
        from ..config.keys import atoi
        texts = text.split(b"\\") if text.strip() else []
        return head + "[" + ",".join(str(atoi(v.decode("latin-1"))) for v in texts) + "]}"
    if vr == "AT":
        count = len(raw) // 4
        tags = struct.unpack("<%dH" % (count * 2), raw[:count * 4])
        return head + "[" + ",".join(f'"{tags[i]:04X}{tags[i + 1]:04X}"' for i in range(0, len(tags), 2)) + "]}"
    return head + '["' + escape(text, True) + '"]}'


__all__ = ["NUMERIC", "escape", "serialize"]
