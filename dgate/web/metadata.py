"""WADO-RS metadata (PS3.18 §10.4.1.1.2) with a cache.

Each instance's DICOM JSON is built from its file header (pixels are not read) and kept
in an LRU cache keyed by file path, size and modification time, so a changed or replaced
file is read again; a series is the join of its instances' cached objects. URIs inside
are written with a placeholder and get the request's base URL on the way out.

The pixel description is that of the frames this server delivers (:mod:`.frames`): NKI
compressed files show ordinary Pixel Data, and YBR colour instances, whose frames are
delivered as RGB, say RGB with Planar Configuration 0.
"""
from __future__ import annotations

import gzip
import os
import threading
from collections import OrderedDict
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset

from .dicomjson import dumps, to_json_dict
from .frames import delivered_photometric
from .headerjson import Unsupported, file_json
from .retrieve import stored_syntax

BASE = "@@dgate-base@@"


def read_header(path: Path) -> Dataset:
    """All elements of a stored file (Part 10 or ``.v2``) with values over 1 KiB left
    unread (pixel data included), so trailing elements after the pixels are seen too."""
    return dcmread(str(path), defer_size=1024, force=True)


def instance_json(path: Path, study: str, series: str, sop: str) -> bytes:
    prefix = f"{BASE}/studies/{study}/series/{series}/instances/{sop}/bulkdata/"

    def bulk(parts: list[str]) -> str:
        return prefix + "/".join(parts)

    try:
        obj = file_json(path, bulk)
    except Unsupported:
        obj = to_json_dict(read_header(path), bulk)
    if "00080018" not in obj:
        raise ValueError("not a DICOM object (no SOPInstanceUID)")
    as_delivered(obj, stored_syntax(path), bulk)
    return dumps(obj)


def _first(obj: dict, tag: str, default):
    values = obj.get(tag, {}).get("Value") or [default]
    return values[0]


def as_delivered(obj: dict, syntax: str, bulk) -> None:
    """Make the pixel description of a DICOM JSON object that of the delivered frames."""
    if "7FDF0010" in obj and "7FE00010" not in obj:           # NKI: expanded on retrieval
        del obj["7FDF0010"]
        obj["7FE00010"] = {"vr": "OW", "BulkDataURI": bulk(["7FE00010"])}
    photometric = str(_first(obj, "00280004", "") or "")
    try:
        samples = int(_first(obj, "00280002", 1) or 1)
    except (TypeError, ValueError):
        samples = 1
    wanted, planar = delivered_photometric(photometric, samples, syntax)
    if wanted != photometric:
        obj["00280004"] = {"vr": "CS", "Value": [wanted]}
    if planar is not None and "00280006" in obj:
        obj["00280006"] = {"vr": "US", "Value": [planar]}


class MetadataCache:
    """Instance JSON by (path, size, mtime); at most ``capacity`` instances."""

    def __init__(self, capacity: int = 20000):
        self.capacity = max(capacity, 0)
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._joined: OrderedDict[tuple, tuple[bytes, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, path: Path, study: str, series: str, sop: str) -> bytes:
        st = os.stat(path)
        key = (str(path), st.st_size, st.st_mtime_ns, study, series, sop)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return found
        data = instance_json(path, study, series, sop)
        with self._lock:
            self.misses += 1
            if self.capacity:
                self._items[key] = data
                while len(self._items) > self.capacity:
                    self._items.popitem(last=False)
        return data

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._joined.clear()

    def series(self, paths: list[tuple[Path, str, str, str]], base_url: str, on_error=None) -> tuple[bytes, bytes]:
        """(JSON, gzipped JSON) of a list of instances; the joined answer is kept too, so
        a warm request costs one stat per file and no JSON or gzip work. Files that
        cannot be read are left out and passed to ``on_error(path, exc)``."""
        keys = []
        for path, study, series, sop in paths:
            try:
                st = os.stat(path)
            except OSError:
                st = None
            keys.append((str(path), st.st_size if st else -1, st.st_mtime_ns if st else -1, study, series, sop))
        key = (tuple(keys), base_url)
        with self._lock:
            found = self._joined.get(key)
            if found is not None:
                self._joined.move_to_end(key)
                self.hits += len(keys)
                return found
        objects = []
        for path, study, series, sop in paths:
            try:
                objects.append(self.get(path, study, series, sop))
            except Exception as exc:          # pydicom and the OS raise many kinds on broken files
                if on_error is not None:
                    on_error(path, exc)
        body = join(objects, base_url)
        packed = (body, gzip.compress(body, 1))
        with self._lock:
            self._joined[key] = packed
            while len(self._joined) > 32:
                self._joined.popitem(last=False)
        return packed


def join(objects: list[bytes], base_url: str) -> bytes:
    return (b"[" + b",".join(objects) + b"]").replace(BASE.encode(), base_url.encode("utf-8"))
