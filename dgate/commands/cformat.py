"""C ``printf`` formatting as dgate applies user formats to command output.

Server commands take C format strings from scripts (``%-17s``, ``%4.4x``, ``%u``,
``%c``); the original passes a fixed argument list repeated several times, so a
format may use fewer or more conversions than there are values. Conversions beyond
the values given cycle through them again; surplus values are ignored.
"""
from __future__ import annotations

import re

_SPEC = re.compile(r"%([-+ #0]*)(\d+|\*)?(?:\.(\d+))?(?:hh|h|ll|l|L|z|j|t)?([diouxXeEfgGcs%])")


def cformat(fmt: str, values: list, beyond: object = None) -> str:
    """Format ``values`` with C conversion rules; values repeat cyclically, or, when
    ``beyond`` is given, conversions past the last value get ``beyond`` (see
    :func:`cformat_one`)."""
    out = []
    pos = 0
    index = 0
    for match in _SPEC.finditer(fmt):
        out.append(fmt[pos:match.start()])
        pos = match.end()
        flags, width, precision, conv = match.groups()
        if conv == "%":
            out.append("%")
            continue
        if beyond is not None and index >= len(values):
            value = beyond
        else:
            value = values[index % len(values)] if values else ""
        index += 1
        out.append(_convert(flags or "", width, precision, conv, value))
    out.append(fmt[pos:])
    return "".join(out)


def _convert(flags: str, width: str | None, precision: str | None, conv: str, value) -> str:
    spec = "%" + flags + (width if width and width != "*" else "") + \
        ("." + precision if precision is not None else "")
    if conv in "di":
        return (spec + "d") % _int(value)
    if conv == "u":
        return (spec + "d") % (_int(value) & 0xFFFFFFFF)
    if conv in "oxX":
        return (spec + conv) % (_int(value) & 0xFFFFFFFF)
    if conv in "eEfgG":
        try:
            return (spec + conv) % float(value)
        except (TypeError, ValueError):
            return (spec + conv) % 0.0
    if conv == "c":
        ch = value if isinstance(value, str) else chr(_int(value) & 0xFF)
        return (spec + "s") % (ch[:1] if ch else "")
    return (spec + "s") % ("" if value is None else str(value))


def _int(value) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip() or 0)
    except ValueError:
        match = re.match(r"\s*[+-]?\d+", str(value))
        return int(match.group()) if match else 0


def cformat_one(fmt: str, value) -> str:
    """``sprintf(out, fmt, value)`` as 1.5.0e runs it for commands that pass one value
    (``get_param``, ``get_ini``, ``get_ini_num``): on its Linux x86-64 build a second ``%s``
    prints the format text itself (observed: ``get_param:MyACRNema,%s=%s;`` gives
    ``CONQUESTSRV1=%s=%s;;``), so scripts that relied on it get the same text here."""
    return cformat(fmt, [value], beyond=fmt)
