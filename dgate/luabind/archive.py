"""The local archive from Lua: loading by ``LoadForGUI`` names, writing files,
recompressing, storing, and the image-level functions ``dicomread``, ``dicomdelete``,
``newdicomdelete``, ``newdicommodify``, ``newdicomcopy`` (conquest-lua-web.md §3, §7.3).

Every store goes through the one ingest pipeline (the services' ``store`` callable, by
default :class:`dgate.store.ingest.Ingest`); queries on the database bind their values.
"""
from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID

from .handles import Handle, datasets_of, mark_file_object

if TYPE_CHECKING:
    from .runtime import LuaState

IMAGE_KEYS = (0x00100020, 0x0020000D, 0x0020000E, 0x00080018, 0x00080050, 0x00080020, 0x00080060)


def functions(state: LuaState) -> dict[str, Callable[..., Any]]:
    def dicomread(query: Any = None, limit: Any = None):
        items = read_query(state, query, limit)
        return None if items is None else state.wrap(Handle(items=items, with_meta=True))

    def dicomdelete(query: Any = None):
        delete_query(state, query)
        return True

    def newdicomdelete(query: Any = None, thread: Any = None, *_rest: Any):
        delete_query(state, query)

    def newdicommodify(query: Any = None, script: Any = None, thread: Any = None, *_rest: Any):
        modify_query(state, query, "" if script is None else str(script), replace=True)

    def newdicomcopy(query: Any = None, script: Any = None, thread: Any = None, *_rest: Any):
        modify_query(state, query, "" if script is None else str(script), replace=False)

    return {"dicomread": dicomread, "dicomdelete": dicomdelete, "newdicomdelete": newdicomdelete,
            "newdicommodify": newdicommodify, "newdicomcopy": newdicomcopy}


# -- loading -------------------------------------------------------------------------
def locate_spec(state: LuaState, spec: str) -> Path | None:
    """``LoadForGUI``: ``pat|sop`` (also ``?``, ``*``, ``:``; the last separator wins),
    ``study\\series\\sop``, or a file path (as given, then below BaseDir)."""
    from ..store.devices import locate
    services = state.services
    if os.path.isfile(spec):
        return Path(spec)
    base = state.base_dir()
    if base and os.path.isfile(os.path.join(base, spec)):
        return Path(base) / spec
    if services.config is None:
        return None
    settings = services.require_settings()
    cut = max(spec.rfind(sep) for sep in "|?*:")
    if cut >= 0 and not spec[cut + 1:].startswith("\\"):
        patid, sop = spec[:cut], spec[cut + 1:]
        stored = services.database().get_file(sop, patid or None)
        return locate(settings, stored.device, stored.object_file) if stored else None
    if spec.count("\\") == 2:
        _study, series, sop = spec.split("\\")
        if len(series) > 8:
            stored = services.database().get_file(sop)
            return locate(settings, stored.device, stored.object_file) if stored else None
    return None


def read_path(path: str | os.PathLike) -> Dataset | None:
    """A stored or dropped file: Part 10 with its meta group, or a raw ``.v2`` dump."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    from ..store.formats import BadObject, read_file
    try:
        return mark_file_object(pydicom.dcmread(str(path)))
    except InvalidDicomError:
        pass
    except (OSError, ValueError, EOFError):
        return None
    try:
        return read_file(path).dataset()
    except (OSError, BadObject, ValueError):
        return None


def load_object(state: LuaState, spec: str) -> Dataset | None:
    """A stored object by LoadForGUI spec, NKI pixel data expanded (as every reader sees it)."""
    path = locate_spec(state, spec) if spec else None
    ds = read_path(path) if path is not None else None
    if ds is not None and 0x7FDF0010 in ds:
        from .. import codec
        try:
            ds = codec.readable(ds)
        except codec.CodecError:
            pass
    return ds


def write_object(state: LuaState, ds: Dataset, filename: str) -> None:
    """``o:Write(file)``: ``.v2`` as raw ACR-NEMA/v2 (uncompressed only), else Part 10."""
    from ..store.formats import UNCOMPRESSED, Encoded, part10_bytes, v2_bytes
    ts = _transfer_syntax(ds)
    work = copy.copy(ds)
    if filename.lower().endswith(".v2"):
        if ts not in UNCOMPRESSED:
            state.services.logs.operator.printf(f"***Cannot write compressed pixel data in v2 format: {filename}\n")
            return
        data = v2_bytes(work)
    else:
        encoded = Encoded.from_dataset(work, ts)
        data = part10_bytes(encoded, str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", "")))
    Path(filename).parent.mkdir(parents=True, exist_ok=True)
    with open(filename, "wb") as out:
        out.write(data)


def _transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return str(meta.TransferSyntaxUID)
    return "1.2.840.10008.1.2.1"


def compress_copy(state: LuaState, ds: Dataset, mode: str) -> Dataset | None:
    """``o:Compress(mode)`` / ``compressdicom(o, mode)``: a copy at Conquest compression
    ``mode`` (``un`` decompresses with the palette, planes and YBR_FULL fixes of every other
    path), made by :func:`dgate.codec.recompress` with dicom.ini's LossyQuality; None (and a
    log line) when the codec fails."""
    from ..codec import CodecError, recompress
    from ..store.ingest import counters
    clone = copy.deepcopy(ds)
    if not hasattr(clone, "file_meta") or clone.file_meta is None:
        clone.file_meta = FileMetaDataset()
    if "TransferSyntaxUID" not in clone.file_meta:
        clone.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.1")
    settings = state.services.settings
    quality = (settings.int("LossyQuality") if settings is not None else 0) or 95
    try:
        return recompress(clone, mode, lossy_quality=quality, counters=counters,
                          log=state.services.logs.operator.printf)
    except CodecError as exc:
        state.services.logs.operator.printf(f"***Compress({mode}) failed: {exc}\n")
        return None


# -- storing -------------------------------------------------------------------------
def store_dataset(state: LuaState, ds: Dataset, calling: str = "", called: str = "") -> bool:
    """``addimage``: a copy through the ingest pipeline (True when stored)."""
    services = state.services
    clone = copy.deepcopy(ds)
    if services.store is not None:
        try:
            services.store(clone, state.ctx)
            return True
        except Exception as exc:
            services.logs.operator.printf(f"***addimage failed: {exc}\n")
            return False
    if services.config is None:
        services.logs.operator.printf("***addimage: no server configuration\n")
        return False
    from ..store.formats import Encoded
    from ..store.ingest import Ingest, StoreFailed
    try:
        encoded = Encoded.from_dataset(clone, _transfer_syntax(clone))
        stored = Ingest(services.config, services.logs).store(encoded, services.database(), calling, called)
    except (StoreFailed, Exception) as exc:
        services.logs.operator.printf(f"***addimage failed: {exc}\n")
        return False
    if stored.path is not None:
        services.logs.operator.printf(f"Added file: {stored.path}\n")
    return True


# -- image-level queries -------------------------------------------------------------
def _identifier(query: Any) -> Dataset | None:
    items = datasets_of(query)
    return copy.deepcopy(items[0]) if items else None


def stored_matches(state: LuaState, query: Any) -> list:
    ident = _identifier(query)
    if ident is None:
        return []
    ident.QueryRetrieveLevel = "IMAGE"
    if "SOPInstanceUID" not in ident:
        ident.SOPInstanceUID = ""
    return state.services.database().stored_files(ident)


def read_query(state: LuaState, query: Any, limit: Any = None) -> list[Dataset] | None:
    """``dicomread(query [, limit])``: the stored objects an image-level query selects."""
    from ..store.devices import locate
    services = state.services
    if services.config is None:
        return None
    try:
        rows = stored_matches(state, query)
    except Exception as exc:
        services.logs.operator.printf(f"***dicomread failed: {exc}\n")
        return None
    ident = _identifier(query)
    scrub = str(ident.get((0x9999, 0x0202)).value) if ident is not None and (0x9999, 0x0202) in ident else ""
    items = []
    for row in rows:
        path = locate(services.require_settings(), row.device, row.object_file)
        ds = read_path(path) if path is not None else None
        if ds is None:
            continue
        if scrub:
            apply_scrub(ds, scrub)
        items.append(ds)
    return items


def apply_scrub(ds: Dataset, spec: str) -> None:
    """9999,0202: ``-`` removes (``+`` keeps only) tags ``ggggeeee``, groups ``gggg``,
    VRs and ``priv``/``Private`` (odd groups)."""
    from ..config.dictionary import Dictionary  # noqa: F401  (for the VR test below)
    items = [s.strip() for s in spec.replace(";", ",").split(",") if s.strip()]
    if not items:
        return
    keep = items[0].startswith("+")
    tests = [s.lstrip("+-") for s in items]

    def hit(elem) -> bool:
        tag = int(elem.tag)
        for t in tests:
            low = t.lower()
            if low.startswith("priv") and (tag >> 16) % 2 == 1:
                return True
            if len(t) == 8 and t.upper() == f"{tag:08X}":
                return True
            if len(t) == 4 and t.upper() == f"{tag >> 16:04X}":
                return True
            if len(t) == 2 and t.isalpha() and str(elem.VR) == t.upper():
                return True
        return False
    for elem in list(ds):
        if hit(elem) != keep:
            del ds[elem.tag]


def delete_query(state: LuaState, query: Any) -> int:
    from ..store.removal import remove_stored_file
    services = state.services
    if services.config is None:
        return 0
    try:
        rows = stored_matches(state, query)
        db = services.database()
        for row in rows:
            db.delete_image(row.sop_uid, row.patient_id)
            remove_stored_file(services.require_settings(), row.object_file, row.device)
    except Exception as exc:
        services.logs.operator.printf(f"***dicomdelete failed: {exc}\n")
        return 0
    return len(rows)


def modify_query(state: LuaState, query: Any, script: str, replace: bool) -> int:
    """``newdicommodify``/``newdicomcopy``: each selected image through ``script``
    (AEs ``modifier``), then stored; ``replace`` removes the original when the new
    object is a different image."""
    from ..store.devices import locate
    services = state.services
    if services.config is None:
        return 0
    try:
        rows = stored_matches(state, query)
    except Exception as exc:
        services.logs.operator.printf(f"***newdicommodify failed: {exc}\n")
        return 0
    done = 0
    for row in rows:
        path = locate(services.require_settings(), row.device, row.object_file)
        if path is None:
            continue
        if modify_file(state, path, script, replace, row) is not None:
            done += 1
    return done


def modify_file(state: LuaState, path: Path, script: str, replace: bool, row=None,
                calling: str = "modifier", called: str = "modifier") -> Dataset | None:
    """``ModifyImageFile``: load, run the import-converter ``script``, store; returns the
    new object (None when refused or failed)."""
    from ..store.removal import remove_stored_file
    from .bridge import run_converter_fresh
    services = state.services
    ds = read_path(path)
    if ds is None:
        services.logs.operator.printf(f"***modify: cannot read {path}\n")
        return None
    old_sop, old_pat = str(ds.get("SOPInstanceUID", "")), str(ds.get("PatientID", "")).rstrip()
    rc = run_converter_fresh(state, script, ds, calling, called) if script else 1
    if rc in (2, 6):
        return None
    if not store_dataset(state, ds, calling, called):
        return None
    new_sop, new_pat = str(ds.get("SOPInstanceUID", "")), str(ds.get("PatientID", "")).rstrip()
    if replace and (new_sop, new_pat) != (old_sop, old_pat):
        db = services.database()
        stored = db.get_file(old_sop, old_pat or None)
        if stored is not None:
            db.delete_image(old_sop, stored.patient_id or old_pat)
            remove_stored_file(services.require_settings(), stored.object_file, stored.device)
    return ds
