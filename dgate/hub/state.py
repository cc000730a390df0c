"""What the hub broadcasts to its workers after a command changed it.

Server commands run in the hub; what they change that workers also use is described
here as plain data and applied in each worker: the log sinks (``log_on:``,
``debuglog_on:``...), ``debuglevel:``, ``testmode:``, the in-memory acrnema.map
(``put_amap:``, ``read_amap:``...), a dicom.ini re-read (``put_param:``) and a clear of
the index update cache after deletions (so a worker does not skip re-creating a series
row the hub just deleted). dgatesop.lst needs nothing: every process re-reads it when it
changes.
"""
from __future__ import annotations

import os
from typing import Any

from ..config import Configuration
from ..config.acrnema import ACRNemaMap, AEEntry
from ..db.store import clear_update_cache, update_cache_generation
from ..log import Channel, FileSink, Logs, PipeSink, Sink, StdoutSink, UdpSink

CHANNELS = ("operator", "debug", "progress")


def describe_sink(sink: Sink | None) -> tuple | None:
    if sink is None:
        return None
    if isinstance(sink, StdoutSink):
        return ("stdout",)
    if isinstance(sink, FileSink):
        return ("file", str(sink.path), sink.timestamps)
    if isinstance(sink, UdpSink):
        return ("udp", sink.address[0], sink.address[1])
    if isinstance(sink, PipeSink):
        return ("pipe", sink.path)
    return ("other", type(sink).__name__)


def make_sink(spec: tuple | None) -> Sink | None:
    if spec is None:
        return None
    kind = spec[0]
    if kind == "stdout":
        return StdoutSink()
    if kind == "file":
        return FileSink(spec[1], spec[2])
    if kind == "udp":
        return UdpSink(spec[1], spec[2])
    if kind == "pipe":
        return PipeSink(spec[1])
    return None


def describe_logs(logs: Logs) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in CHANNELS:
        channel: Channel = getattr(logs, name)
        out[name] = (describe_sink(channel.sink), channel.prefixed, channel.pacs_name)
    return out


def apply_logs(logs: Logs, description: dict[str, Any]) -> None:
    made: dict[tuple, Sink | None] = {}
    for name in CHANNELS:
        raw_spec, prefixed, pacs_name = description[name]
        spec = tuple(raw_spec) if raw_spec is not None else None      # JSON turns tuples into lists
        channel: Channel = getattr(logs, name)
        if describe_sink(channel.sink) != spec:
            if spec is not None and spec in made:
                sink = made[spec]
            else:
                sink = make_sink(spec)
                if spec is not None:
                    made[spec] = sink
            channel.send_to(sink)
        channel.prefixed = prefixed
        channel.pacs_name = pacs_name


def _ini_stamp(config: Configuration) -> tuple:
    try:
        st = os.stat(config.ini_path)
        return (st.st_mtime_ns, st.st_size)
    except OSError:
        return ()


def snapshot(config: Configuration, logs: Logs, debug_level: int, test_mode: str) -> dict[str, Any]:
    amap = config._amap
    return {
        "logs": describe_logs(logs),
        "debug_level": debug_level,
        "test_mode": test_mode,
        "amap": None if amap is None else [(e.ae, e.host, e.port, e.compression, e.line) for e in amap.entries],
        "ini": _ini_stamp(config),
        "update_cache": update_cache_generation(),
    }


def apply(state: dict[str, Any], config: Configuration, logs: Logs, server: Any) -> None:
    """Worker side: make this process match the hub."""
    apply_logs(logs, state["logs"])
    if server is not None:
        server.debug_level = state["debug_level"]
        server.ingest.test_mode = state["test_mode"]
    if state["amap"] is not None:
        current = config._amap
        entries = [AEEntry(*row) for row in state["amap"]]
        if current is None or [(e.ae, e.host, e.port, e.compression, e.line) for e in current.entries] != state["amap"]:
            config._amap = ACRNemaMap(entries, str(config.settings.path("ACRNemaMap")))
    global _last_ini, _last_cache
    if state["update_cache"] != _last_cache:
        if _last_cache is not None:
            clear_update_cache()
        _last_cache = state["update_cache"]
    if state["ini"] != _last_ini:
        _last_ini = state["ini"]
        config.ini.refresh(force=True)


_last_ini: tuple | None = None
_last_cache: int | None = None
