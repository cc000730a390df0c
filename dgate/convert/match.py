"""Conquest's ``match`` (dgate.cpp:4622): the converter filters and ``ifmatch``.

``*`` matches everything; ``*text*`` is a case-insensitive substring test; ``text*`` a
prefix and ``*text`` a suffix test; otherwise case-insensitive equality. Trailing spaces
of the tested value are ignored.
"""
from __future__ import annotations


def match(source: str, pattern: str) -> bool:
    """True when ``source`` matches the filter ``pattern``."""
    if pattern == "*":
        return True
    value = source.rstrip(" ").lower()
    pat = pattern.lower()
    if len(pat) > 1 and pat[0] == "*" and pat[-1] == "*":
        return pat[1:-1] in value
    if len(pat) > 1 and pat[-1] == "*":
        return value.startswith(pat[:-1])
    if len(pat) > 1 and pat[0] == "*":
        return value.endswith(pat[1:])
    return value == pat
