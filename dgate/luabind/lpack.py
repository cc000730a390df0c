"""``require "pack"``: lpack's ``string.pack``, ``string.unpack`` and ``string.reshape``
(conquest-lua-web.md §1.2), written for this binding.

lpack semantics, not Lua 5.3's: ``unpack(s, fmt [, init])`` returns the next read
position *first*, then the values. Letters: ``z`` zero-terminated string, ``p``/``P``/``a``
strings with a 1-byte/2-byte/size_t length, ``A`` fixed string (the count is its length),
``f d n`` float/double/lua_Number, ``c b h H i I l L`` integers (long is 8 bytes), ``< > =``
endianness; spaces and commas are ignored; a number after a letter repeats it.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runtime import LuaState

_NUMBERS = {"f": "f", "d": "d", "n": "d", "c": "b", "b": "B", "h": "h", "H": "H", "i": "i", "I": "I",
            "l": "q", "L": "Q"}
_LENGTHS = {"p": "B", "P": "H", "a": "Q"}


class PackError(ValueError):
    pass


def _tokens(fmt: str):
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        i += 1
        start = i
        while i < len(fmt) and fmt[i].isdigit():
            i += 1
        yield ch, (int(fmt[start:i]) if i > start else None)


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (int, float)):
        from .elements import lua_number_text
        value = lua_number_text(value)
    return str(value).encode("latin-1")


def pack(fmt: Any, *args: Any) -> str:
    order = "<"
    out = bytearray()
    values = list(args)
    pos = 0

    def take() -> Any:
        nonlocal pos
        if pos >= len(values):
            raise PackError(f"bad argument #{pos + 2} to 'pack' (value expected)")
        value = values[pos]
        pos += 1
        return value
    for ch, count in _tokens(str(fmt)):
        if ch in "<>=":
            order = {"<": "<", ">": ">", "=": "<"}[ch]
            continue
        if ch in " ,":
            continue
        for _ in range(count if count is not None else 1):
            if ch == "A":
                out += _bytes(take())
            elif ch == "z":
                out += _bytes(take()) + b"\0"
            elif ch in _LENGTHS:
                data = _bytes(take())
                out += struct.pack(order + _LENGTHS[ch], len(data)) + data
            elif ch in _NUMBERS:
                code = _NUMBERS[ch]
                value = take()
                if code in "fd":
                    out += struct.pack(order + code, float(value))
                    continue
                bits = struct.calcsize(code) * 8
                whole = int(float(value)) & ((1 << bits) - 1)
                if code.islower() and whole >= 1 << (bits - 1):
                    whole -= 1 << bits
                out += struct.pack(order + code, whole)
            else:
                raise PackError(f"bad argument #1 to 'pack' (bad code `{ch}')")
    return bytes(out).decode("latin-1")


def unpack(data: Any, fmt: Any, init: Any = None):
    raw = _bytes(data)
    i = int(init) - 1 if init is not None else 0
    order = "<"
    results: list[Any] = []
    for ch, count in _tokens(str(fmt)):
        if ch in "<>=":
            order = {"<": "<", ">": ">", "=": "<"}[ch]
            continue
        if ch in " ,":
            continue
        if ch == "A":
            n = count if count is not None else 1
            if i + n > len(raw):
                break
            results.append(raw[i:i + n].decode("latin-1"))
            i += n
            continue
        stop = False
        for _ in range(count if count is not None else 1):
            if ch == "z":
                end = raw.find(b"\0", i)
                if end < 0:
                    stop = True
                    break
                results.append(raw[i:end].decode("latin-1"))
                i = end + 1
            elif ch in _LENGTHS:
                size = struct.calcsize(_LENGTHS[ch])
                if i + size > len(raw):
                    stop = True
                    break
                (n,) = struct.unpack_from(order + _LENGTHS[ch], raw, i)
                if i + size + n > len(raw):
                    stop = True
                    break
                results.append(raw[i + size:i + size + n].decode("latin-1"))
                i += size + n
            elif ch in _NUMBERS:
                code = _NUMBERS[ch]
                size = struct.calcsize(code)
                if i + size > len(raw):
                    stop = True
                    break
                results.append(struct.unpack_from(order + code, raw, i)[0])
                i += size
            else:
                raise PackError(f"bad argument #2 to 'unpack' (bad code `{ch}')")
        if stop:
            break
    return (i + 1, *results)


def reshape(data: Any, d1: Any, d2: Any):
    """Blocks of ``d1`` bytes interleaved ``d2`` ways, de-interleaved (nothing when the
    original's length check fails: it tests ``(len % d1) * d2``)."""
    raw = _bytes(data)
    a, b = int(d1), int(d2)
    if a <= 0 or b <= 0 or (len(raw) % a) * b:
        return None
    steps = len(raw) // (a * b)
    out = bytearray()
    for j in range(b):
        p = j * a
        for _ in range(steps):
            out += raw[p:p + a]
            p += a * b
    out += b"\0" * (len(raw) - len(out))
    return bytes(out).decode("latin-1")


LOADER = """
local pack, unpack, reshape = ...
package.preload["pack"] = function()
  string.pack = pack
  string.unpack = unpack
  string.reshape = reshape
  return string
end
"""


def install(state: LuaState) -> None:
    state.lua.execute(LOADER, pack, unpack, reshape)
