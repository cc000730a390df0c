"""Changing stored objects with scripts: ``ModifyData``, ``ModifyImageFile``,
``ModifyPATIDofImageFile`` (anonymize), ``MergeUIDs``/``MergeUIDofImageFile`` and
``AttachFile`` (conquest-protocol.md §5.3).

Each changed object goes through the ingest pipeline as a new store; when its SOP
instance or patient changed, the original's row and file are removed (change in place).
Scripts are import-converter scripts (the converter engine) or Lua (``lua:…``,
``file.lua(args)``).
"""
from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset

from .archive import modify_file, read_path, store_dataset
from .bridge import run_converter_fresh
from .uidmods import MERGE_STAGE, merge_uids, new_uids

if TYPE_CHECKING:
    from .runtime import LuaState


def _stored_paths(state: "LuaState", **keys: str) -> list[tuple[Path, object]]:
    from ..store.devices import locate
    services = state.services
    db = services.database()
    found = []
    for row in db.images(**{k: v for k, v in keys.items() if v}):
        path = locate(services.require_settings(), row.device, row.object_file)
        if path is not None:
            found.append((path, row))
    return found


def modify_data(state: "LuaState", patid: str, study: str, series: str, sop: str, script: str,
                delete_file: bool) -> int:
    """``modifier:``/``modifystudy:``/``modifyseries:``: every selected image through
    ``script``; in place when ``delete_file``, else as a modified copy."""
    if not (patid or study or series or sop):
        state.services.logs.operator.printf("***[ModifyData] nothing selected\n")
        return 0
    done = 0
    for path, row in _stored_paths(state, patient_id=patid, study_uid=study, series_uid=series, sop_uid=sop):
        if modify_file(state, path, script, delete_file, row) is not None:
            done += 1
    state.services.logs.operator.printf(f"[ModifyData] modified {done} image(s)\n")
    return done


def modify_image_file(state: "LuaState", filename: str, script: str) -> Dataset | None:
    """``modifyimage:file,script`` with the original's guard and quote fix-up."""
    test = script.lower()
    if any(k in test for k in ("set 0010,0020", "set 0020,000d", "set 0020,000e")) and "newuids" not in test:
        state.services.logs.operator.printf(
            "[modifyimage]: can't change patientID, study or series UID without using newuids\n")
        return None
    if " to '" in test or " if '" in test:
        script = script.replace("'", '"')
    return modify_file(state, Path(filename), script, True)


BUILTIN_ANONYMIZE = ((0x00100010, "PN", "anonymous"), (0x00100030, "DA", "19010101"), (0x00080090, "PN", ""),
                     (0x00201020, "LO", ""), (0x00511010, "LO", ""), (0x00101040, "LO", ""), (0x00091200, "LO", ""))


def anonymize_file(state: "LuaState", patid: str, filename: str) -> Dataset | None:
    """``anonymize:patid,file``: the file gets PatientID ``patid`` and goes through the
    first of ``anonymize_script.cq`` (cwd, converter engine), ``anonymize_script.lua``
    (cwd), our ``lua/anonymize_script.lua``, or the built-in settings."""
    from .elements import set_text
    from .lua_files import find_lua_file
    state.set_global("command_line", patid)
    from ..version import DGATE_VERSION
    state.set_global("version", DGATE_VERSION)
    ds = read_path(filename)
    if ds is None:
        state.services.logs.operator.printf(f"***[anonymize] cannot read {filename}\n")
        return None
    if os.path.isfile("anonymize_script.cq"):
        script = "call anonymize_script.cq"
    elif os.path.isfile("anonymize_script.lua"):
        script = f"anonymize_script.lua({patid})"
    elif find_lua_file(state, "lua/anonymize_script.lua"):
        script = f"lua/anonymize_script.lua({patid})"
    else:
        script = ""
    return _replace_with(state, Path(filename), ds, script, patid, BUILTIN_ANONYMIZE if not script else (),
                         set_text)


def _replace_with(state: "LuaState", path: Path, ds: Dataset, script: str, patid: str, builtin, set_text):
    from ..store.removal import remove_stored_file
    old_sop, old_pat = str(ds.get("SOPInstanceUID", "")), str(ds.get("PatientID", "")).rstrip()
    for tag, vr, value in builtin:
        set_text(ds, tag, vr, value)
    if patid and not script:
        set_text(ds, 0x00100020, "LO", patid)
    if script:
        rc = run_converter_fresh(state, script, ds, "anonymize", "anonymize")
        if rc in (2, 6):
            return None
    if not store_dataset(state, ds):
        return None
    new_sop, new_pat = str(ds.get("SOPInstanceUID", "")), str(ds.get("PatientID", "")).rstrip()
    if (new_sop, new_pat) != (old_sop, old_pat):
        db = state.services.database()
        stored = db.get_file(old_sop, old_pat or None)
        if stored is not None:
            db.delete_image(old_sop, stored.patient_id or old_pat)
            remove_stored_file(state.services.require_settings(), stored.object_file, stored.device)
    return ds


def merge(state: "LuaState", uids: list[str], kind: str, script: str = "") -> str | None:
    """``mergeseries:``/``mergestudy:``: record the mapping, then move every image of
    the given series/studies to the new UID (``mergeseriesfile`` for each; ``script``:
    converter statements run on each merged image, the delayed ``merge study``)."""
    services = state.services
    uids = [u.strip() for u in uids if u.strip()][:1000]
    if not uids:
        return None
    db = services.database()
    new = merge_uids(db, uids, "SeriesUID" if kind == "series" else "StudyUID",
                     services.require_settings().str("UIDPrefix"))
    services.logs.debug.printf(f"NewUID for merging {kind} = {new}\n")
    for uid in uids:
        key = {"series_uid": uid} if kind == "series" else {"study_uid": uid}
        for path, _row in _stored_paths(state, **key):
            merge_file(state, str(path), kind, script)
    return new


def merge_file(state: "LuaState", filename: str, kind: str, script: str = "") -> bool:
    """``mergeseriesfile:``/``mergestudyfile:``: new UIDs in stage ``(merge)`` (the study
    UID kept for a series merge), MergeSeriesConverter0/MergeStudiesConverter0 (the
    converter engine, ``[lua]`` versions in this state), ``script``, then stored in place."""
    from ..store.removal import remove_stored_file
    services = state.services
    ds = read_path(filename)
    if ds is None:
        services.logs.operator.printf(f"***[MergeUIDofImageFile] {filename} -FAILED: Error on Load\n")
        return False
    db = services.database()
    old_sop, old_pat = str(ds.get("SOPInstanceUID", "")), str(ds.get("PatientID", "")).rstrip()
    exclude = {0x0020000D} if kind == "series" else set()
    new_uids(ds, db, state.dictionary, exclude, MERGE_STAGE)
    rc = 1
    if services.config is not None:
        from ..convert import ConvertContext, Converters
        ctx = ConvertContext(services.config, services.logs, calling="merging", called="merging", lua_state=state,
                             db_factory=services.database)
        converters = Converters(services.config, services.logs)
        verdict = converters.run_merge_series(ds, ctx) if kind == "series" else converters.run_merge_studies(ds, ctx)
        rc = verdict.rc if verdict.ran else 1
    if rc not in (2, 6) and script:
        rc = run_converter_fresh(state, script, ds, "merging", "merging")
    if rc in (2, 6):
        services.logs.operator.printf(f"[MergeUIDofImageFile] {filename} script rejected merge\n")
        return False
    stored = db.get_file(old_sop, old_pat or None)
    if not store_dataset(state, ds, "merging", "merging"):
        services.logs.operator.printf(f"***Error entering object into server: {filename}\n")
        return False
    if stored is not None:
        db.delete_image(old_sop, stored.patient_id or old_pat)
        remove_stored_file(services.require_settings(), stored.object_file, stored.device)
    services.logs.operator.printf(f"Merged image: {filename}\n")
    return True


ARCHIVES = (".zip", ".tar", ".gz", ".tgz", ".7z")


def attach_file(state: "LuaState", filename: str, script: str) -> int:
    """``attachfile:file,script``: each object of a file or an archive (zip, tar, tar.gz
    here without 7za; .7z through ``7za`` when installed) through ``script`` (rc 2/6:
    not stored), then stored. Returns the number stored."""
    lower = filename.lower()
    if not lower.endswith(ARCHIVES):
        return _attach_one(state, filename, script)
    folder = tempfile.mkdtemp(prefix="attach")
    try:
        if lower.endswith(".zip"):
            with zipfile.ZipFile(filename) as archive:
                _safe_extract_zip(archive, folder)
        elif lower.endswith(".7z"):
            import subprocess
            subprocess.run(["7za", "x", f"-o{folder}", filename], capture_output=True, check=False)
        else:
            with tarfile.open(filename) as archive:
                archive.extractall(folder, filter="data")
        count = 0
        for current, _dirs, files in os.walk(folder):
            for name in sorted(files):
                count += _attach_one(state, os.path.join(current, name), script)
        return count
    except (OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
        state.services.logs.operator.printf(f"***attachfile: cannot unpack {filename}: {exc}\n")
        return 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _safe_extract_zip(archive: zipfile.ZipFile, folder: str) -> None:
    root = Path(folder).resolve()
    for member in archive.infolist():
        target = (root / member.filename).resolve()
        if root not in target.parents and target != root:
            continue               # a member that would leave the folder is skipped
        archive.extract(member, folder)


def _attach_one(state: "LuaState", filename: str, script: str) -> int:
    ds = read_path(filename)
    if ds is None:
        state.services.logs.operator.printf(f"***attachfile: {filename} is not a DICOM object\n")
        return 0
    if script:
        rc = run_converter_fresh(state, script, ds, "attach", "attach")
        if rc in (2, 6):
            return 0
    return 1 if store_dataset(state, ds) else 0
