"""Converter statements on stored objects outside the ingest path: WADO's ``anonymize``,
the ``script`` of Conquest's zip/export and web move (conquest-lua-web.md §10.2, §10.4).

The object is read from its file with NKI data expanded (:func:`dgate.codec.readable`),
as every reader sees it, and run through the import-side interpreter (N = -1) with Lua
statements in one state per :func:`script_context`.
"""
from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset

from .context import ConvertContext
from .rc import RC
from .script import run_script


def read_object(path: str | Path) -> Dataset:
    """The stored object as every reader sees it (raises OSError/BadObject/CodecError)."""
    from ..codec import readable
    from ..store.formats import read_file
    from ..store.ingest import counters
    return readable(read_file(path).dataset(), counters)


def script_context(config, logs, **fields) -> ConvertContext:
    """A context for running scripts on several stored objects (they share a Lua state)."""
    fields.setdefault("number", -1)
    fields.setdefault("calling", "")
    fields.setdefault("called", "")
    return ConvertContext(config, logs, **fields)


def through_script(ds: Dataset, script: str, ctx: ConvertContext) -> Dataset | None:
    """``ds`` after the converter ``script`` (changed in place); None when the script
    destroyed or rejected it."""
    if not script:
        return ds
    rc = run_script(script, ds, ctx)
    return None if rc in (RC.DESTROY, RC.REJECT) else ds


def anonymizer(ctx: ConvertContext, value: str) -> str | None:
    """The statement 1.5.0e runs for WADO ``anonymize=value``: ``yes`` → ``call
    anonymize_script.cq``, anything else → ``lua/anonymize_script.lua(value)``; None when
    that script cannot be found (the caller must then not serve the object)."""
    if value == "yes":
        name = "anonymize_script.cq"
        if ctx.config.ini.get("scripts", name) or (ctx.base_dir() / name).is_file():
            return f"call {name}"
        return None
    from .verbs import shipped_lua_file
    name = "lua/anonymize_script.lua"
    if (ctx.base_dir() / name).is_file() or shipped_lua_file(name) is not None:
        return f"{name}({value})"
    return None
