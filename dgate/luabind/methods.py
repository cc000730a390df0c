"""Element access and methods of Lua DICOM objects (``luaSeqindex``, ``luaSeqnewindex``,
``luaSeqClosure``; conquest-lua-web.md §2.2–§2.4).

Arrays index from 0; reading index ``#arr`` appends a new empty item (how scripts grow
sequences: ``Data.Seq[#Data.Seq].X = ...``); other keys on an array read item 0.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from . import elements
from .handles import Handle, datasets_of, has_file_meta, mark_file_object

if TYPE_CHECKING:
    from .runtime import LuaState


class LuaCallError(Exception):
    """An error a method raises in Lua (message as the original's ``luaL_error``)."""


class _ErrorMarker:
    """First return value telling the Lua glue to raise the second as a Lua error."""

    def __repr__(self) -> str:
        return "ERR"


ERR = _ErrorMarker()
# global functions whose failures are Lua errors (the rest return nil)
CHECKED = {"setimage", "getvr", "setvr", "copydicom", "ConvertBinaryData", "newdicomobject"}
# What returns nil when it has nothing to say; every other function and method then
# returns *nothing* (no value), as the C functions of 1.5.0e do (so ``select('#', f())``
# and ``tostring(f())`` behave the same).
RETURNS_NIL = {"changeuid", "changeuidback", "crc", "md5", "dicomquery", "dicomquery2", "dicomget", "dicommove",
               "dicomecho", "dicomprint", "dicomstore", "compressdicom", "copydicom", "newdicomobject",
               "newdicomarray", "CGI", "gpps", "tempfile", "Compress", "Copy", "new", "newarray", "dicomread"}


def nothing_for_none(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` returning no value instead of nil, unless ``name`` returns nil in dgate."""
    if name in RETURNS_NIL:
        return fn

    def call(*args: Any) -> Any:
        result = fn(*args)
        return () if result is None else result
    return call


def checked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a :class:`LuaCallError` into the (ERR, message) return the glue raises."""
    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except LuaCallError as exc:
            return ERR, str(exc)
    return call


class ObjectMethods:
    def __init__(self, state: LuaState):
        self.state = state
        self.table: dict[str, Callable[..., Any]] = {
            "Read": self.read, "Write": self.write, "Dump": self.dump, "Reset": self.reset,
            "GetVR": self.get_vr, "SetVR": self.set_vr, "Script": self.script, "AddImage": self.add_image,
            "Copy": self.copy, "Compress": self.compress, "ListItems": self.list_items,
            "Serialize": self.serialize, "DeleteFromSequence": self.delete_from_sequence,
            "AddToSequence": self.add_to_sequence, "new": self.new, "newarray": self.new_array,
            "free": self.free,
            "GetPixel": self.pixels("get_pixel"), "SetPixel": self.pixels("set_pixel"),
            "GetRow": self.pixels("get_row"), "SetRow": self.pixels("set_row"),
            "GetColumn": self.pixels("get_column"), "SetColumn": self.pixels("set_column"),
            "GetImage": self.pixels("get_image"), "SetImage": self.pixels("set_image"),
        }

    @property
    def dic(self):
        return self.state.dictionary

    # -- metamethods -------------------------------------------------------------------
    def call(self, name: str, handle: Handle | None, *args):
        fn = self.table.get(name)
        if fn is None or handle is None:
            return None
        try:
            result = fn(handle, *args)
        except LuaCallError as exc:
            return ERR, str(exc)
        return () if result is None and name not in RETURNS_NIL else result

    def index(self, handle: Handle, key: str):
        if handle.ds is not None:
            if key == "Storage" and handle is self.state.data:
                return self.state.ctx.storage
            return self._read(handle.ds, key)
        items = handle.items
        if items is None:
            return None
        if key[:1].isdigit():
            number = elements.atoi(key)
            if number < len(items):
                return self.state.wrap_view(Handle(items[number]))
            if number == len(items):
                items.append(Dataset())
                return self.state.wrap_view(Handle(items[number]))
            return None
        if not items:
            return None
        return self._read(items[0], key)

    def _read(self, ds: Dataset, key: str):
        dic = self.state.dictionary
        found = elements.locate(ds, key, dic)
        value = None if found is None else elements.read(found[0], found[1], dic)
        if value is None or type(value) is str:      # the usual answers (Sequence's isinstance is an ABC check)
            return value
        return self.state.wrap_view(Handle(items=value)) if isinstance(value, Sequence) else value

    def newindex(self, handle: Handle, key: str, value: Any, is_table: bool) -> None:
        if handle.ds is not None:
            target = handle.ds
            if handle is self.state.data and key == "Storage":
                self.state.ctx.storage = None if value is None else str(value)
                return
        elif handle.items is not None:
            if not handle.items:
                handle.items.append(Dataset())
            target = handle.items[0]
        else:
            return
        if key in ("x", "y", "z"):
            self.state.variables[key] = "" if value is None else elements.lua_number_text(value)
            return
        if isinstance(value, Handle):
            raise LuaCallError(f"cannot set {key} to a DICOM object; use SetVR")
        elements.write(target, key, value, self.dic, is_table=is_table)

    def length(self, handle: Handle | None) -> int:
        if handle is None:
            return 0
        if handle.ds is not None:
            return 1
        return len(handle.items) if handle.items is not None else 0

    # -- file and object methods -----------------------------------------------------
    def read(self, handle: Handle, name: Any = None):
        """``o:Read(name)``: contents replaced by the object ``LoadForGUI`` finds."""
        from .archive import load_object
        loaded = load_object(self.state, str(name or ""))
        if loaded is None:
            raise LuaCallError("Failed to read dicom file")
        if handle.ds is None:
            return None
        replace_contents(handle.ds, loaded)
        handle.with_meta = True
        return 1

    def write(self, handle: Handle, filename: Any = None):
        from .archive import write_object
        if handle.ds is not None and filename:
            write_object(self.state, handle.ds, str(filename))

    def dump(self, handle: Handle, filename: Any = None):
        from ..store.dump import dump
        if handle.ds is None or not filename:
            return
        with open(str(filename), "w", encoding="latin-1", errors="replace") as out:
            out.write(dump(handle.ds, self.dic))
        return

    def reset(self, handle: Handle):
        if handle.ds is not None:
            handle.ds.clear()
            if hasattr(handle.ds, "file_meta"):
                del handle.ds.file_meta

    def get_vr(self, handle: Handle, group: Any = None, element: Any = None, as_string: Any = None):
        """``GetVR(g, e [, asstring])``: array view, raw bytes, or a 1-based table."""
        ds = handle.ds
        if ds is None or group is None or element is None:
            return None
        tag = (int(group) << 16) | int(element)
        if tag not in ds:
            return None
        vr = elements.vr_of(ds, tag, self.dic)
        if vr == "SQ":
            return self.state.wrap_view(Handle(items=ds[tag].value))
        raw = elements.raw_bytes(ds, tag, self.dic) or b""
        if as_string:
            return raw.decode("latin-1")
        if vr in ("UL", "US", "SL", "SS", "FD", "FL", "OF"):
            values: list = elements.numbers(ds, tag, vr, self.dic)
        elif vr == "OW":
            count = len(raw) // 2
            import struct
            values = list(struct.unpack("<%dh" % count, raw[:count * 2]))
        else:
            values = list(raw)
        return self.state.table(values)

    def set_vr(self, handle: Handle, group: Any = None, element: Any = None, value: Any = None):
        """``SetVR(g, e, v)``: an array (copied items), a 1-based table of numbers, or a
        string of raw bytes (for an SQ: JSON array of objects)."""
        ds = handle.ds
        if ds is None or group is None or element is None:
            return
        tag = (int(group) << 16) | int(element)
        entry = self.dic.by_tag(tag)
        vr = entry.vr if entry is not None else elements.vr_of(ds, tag, self.dic)
        if isinstance(value, Handle):
            items = [copy.deepcopy(item) for item in datasets_of(value)]
            ds.add_new(tag, "SQ", Sequence(items))
            return
        if value is None:
            return
        if isinstance(value, str):
            if vr == "SQ" and value.lstrip().startswith("["):
                from .jsoninput import JsonError, parse_array
                try:
                    ds.add_new(tag, "SQ", parse_array(value, self.dic))
                except JsonError as exc:
                    raise LuaCallError(f"invalid JSON for a sequence: {exc}") from exc
            elif vr == "SQ":
                elements.set_raw(ds, tag, "OB", value.encode("latin-1"), pad=False)   # bytes kept (9999,0403)
            else:
                elements.set_raw(ds, tag, vr, value.encode("latin-1"))
            return
        if isinstance(value, (int, float)):
            elements.set_text(ds, tag, vr, elements.lua_number_text(value))
            return
        values = _lua_list(value)
        import struct
        fmt = {"UL": "I", "US": "H", "SL": "i", "SS": "h", "FD": "d", "FL": "f", "OF": "f", "OW": "h"}.get(vr)
        if fmt is None:
            data = bytes(int(v) & 0xFF for v in values)
        else:
            if fmt in "fd":
                cast = [float(v) for v in values]
            else:
                bits = struct.calcsize(fmt) * 8
                cast = [int(v) & ((1 << bits) - 1) for v in values]
                if fmt.islower():
                    cast = [((v + (1 << (bits - 1))) % (1 << bits)) - (1 << (bits - 1)) for v in cast]
            order = "<" if elements.little_endian(ds) else ">"
            data = struct.pack(order + fmt * len(cast), *cast)
        elements.set_raw(ds, tag, vr if vr != "SQ" else "OB", data)
        return

    def script(self, handle: Handle, command: Any = None):
        if handle.ds is not None and command is not None:
            self.state.functions.run_script(handle.ds, str(command))

    def add_image(self, handle: Handle):
        if handle.ds is not None:
            self.state.functions.store_copy(handle.ds)

    def copy(self, handle: Handle, json: Any = None):
        if handle.ds is None:
            if handle.items is not None:
                return self.state.wrap(Handle(items=[copy.deepcopy(d) for d in handle.items]))
            return None
        clone = copy.deepcopy(handle.ds)
        if json:
            self._json_into(str(json), clone)
        return self.state.wrap(Handle(clone, with_meta=handle.with_meta))

    def compress(self, handle: Handle, mode: Any = None):
        from .archive import compress_copy
        if handle.ds is None:
            return None
        result = compress_copy(self.state, handle.ds, str(mode or "un"))
        return self.state.wrap(Handle(result, with_meta=True)) if result is not None else None

    def list_items(self, handle: Handle):
        """Four ``|``-joined lists: keywords, VRs, groups and elements (decimal)."""
        ds = handle.ds
        if ds is None:
            return None
        names, vrs, groups, elems = [], [], [], []
        for tag in sorted(int(t) for t in ds.keys()):
            entry = self.dic.by_tag(tag)
            names.append(entry.keyword if entry is not None else "")
            vrs.append(elements.vr_of(ds, tag, self.dic))
            groups.append(str(tag >> 16))
            elems.append(str(tag & 0xFFFF))
        return "|".join(names), "|".join(vrs), "|".join(groups), "|".join(elems)

    def serialize(self, handle: Handle, json: Any = None, pixels: Any = None, dicomweb: Any = None):
        from .serialize import serialize
        if handle.ds is not None:
            return serialize(handle.ds, self.dic, bool(json), bool(pixels), bool(dicomweb), handle.with_meta)
        if handle.items is not None:
            return serialize(list(handle.items), self.dic, bool(json), bool(pixels), bool(dicomweb))
        return None

    def delete_from_sequence(self, handle: Handle, first: Any = None, second: Any = None):
        """``o:DeleteFromSequence(name, i)`` or ``arr:Delete(i)`` (0-based)."""
        if handle.items is not None:
            items, index = handle.items, first
        elif handle.ds is not None and first is not None:
            found = elements.locate(handle.ds, str(first), self.dic)
            if found is None or found[1] not in found[0]:
                return
            items, index = found[0][found[1]].value, second
        else:
            return
        try:
            number = int(index)
        except (TypeError, ValueError):
            return
        if 0 <= number < len(items):
            del items[number]
        return

    def add_to_sequence(self, handle: Handle, item: Any = None):
        if handle.items is not None and isinstance(item, Handle):
            for ds in datasets_of(item):
                handle.items.append(copy.deepcopy(ds))

    def new(self, handle: Handle, json: Any = None):
        ds = Dataset()
        if json:
            self._json_into(str(json), ds)
        return self.state.wrap(Handle(ds))

    def _json_into(self, text: str, ds: Dataset) -> None:
        from .jsoninput import JsonError, parse_object
        try:
            parse_object(text, self.dic, into=ds)
        except JsonError as exc:
            raise LuaCallError(f"invalid JSON for a DICOM object: {exc}") from exc

    def new_array(self, handle: Handle):
        return self.state.wrap(Handle(items=[]))

    def free(self, handle: Handle):
        if handle is not self.state.data and handle is not self.state.command:
            handle.free()

    def pixels(self, name: str) -> Callable[..., Any]:
        def method(handle: Handle, *args):
            from . import pixels
            if handle.ds is None:
                return None
            return getattr(pixels, name)(self.state, handle.ds, *args)
        return method


def replace_contents(target: Dataset, source: Dataset) -> None:
    """Make ``target`` (a view other code holds) hold what ``source`` holds."""
    target.clear()
    for tag in source.keys():
        # raw elements stay raw
        target[tag] = source.get_item(tag)
    target.file_meta = getattr(source, "file_meta", None) or Dataset()  # type: ignore[assignment]
    if has_file_meta(source):
        mark_file_object(target)
    implicit, little = source.original_encoding[:2]
    if implicit is not None and little is not None:
        target.set_original_encoding(implicit, little, source.original_character_set)


def _lua_list(value: Any) -> list:
    """The values of a 1-based Lua table (or a Python sequence)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    out: list[Any] = []
    index = 1
    while True:
        item = value[index]
        if item is None:
            return out
        out.append(item)
        index += 1
