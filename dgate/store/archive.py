"""Archival of stored objects to other devices (device.cpp; conquest-storage.md §6.1).

The database ``DeviceName`` of an image tells where it lives: ``MAG0`` on-line,
``MAG0.Archiving`` selected for archival, ``JUKEBOX1.123`` once copied to the cache
``CACHE<n>.1.123`` (before and after burning). Files keep their relative path on every
device. Each operation logs what it does (``Archival: …``) and returns True on success.
An optional ``each(path, device)`` callback sees every object moved (the server passes
the MoveDeviceConverter0/ArchiveConverter0 runner).
"""
from __future__ import annotations

import filecmp
import os
import shutil
import time
from pathlib import Path
from typing import Callable

from ..config.keys import Settings
from ..runtime.registry import Settable
from .devices import device_root, devices, free_megabytes
from .removal import remove_stored_file

Each = Callable[[Path, str, str], None]    # (new path, device, "archive" | "move")


ARCHIVE_RECOMPRESSION = Settable("archive recompression")
"""``ArchiveCompression`` for copies to another device (§6.7): ``ARCHIVE_RECOMPRESSION.set(fn)``,
``fn(stored: ObjectFile, code, file_name, settings, counters, log) -> encoded object`` (the
stored object itself when nothing changes); set by the codec (:mod:`dgate.codec.storage`).
Unset: files are copied as they are."""


class Archiver:
    """Archival operations on one database and configuration."""

    def __init__(self, db, settings: Settings, logs, each: Each | None = None):
        self.db = db
        self.settings = settings
        self.logs = logs
        self.each = each
        im = db.schema.image
        self.images = im.name
        self.sop = im.key.column
        self.series = im.link.column
        pat = im.patient_column()
        self.patient = pat.column if pat is not None else None
        self.p = db.driver.text_param

    def say(self, text: str) -> None:
        self.logs.operator.printf(f"Archival: {text}\n")

    # -- selection -----------------------------------------------------------------------
    def _rows(self, where: str, params: list) -> list[tuple[str, str, str, str]]:
        pat = self.patient or "''"
        return self.db.driver.query(
            f"SELECT ObjectFile, DeviceName, {pat}, {self.sop} FROM {self.images} WHERE {where}", params)

    def patients_on(self, device: str) -> list[str]:
        if self.patient is None:
            return []
        rows = self.db.driver.query(f"SELECT DISTINCT {self.patient} FROM {self.images} WHERE DeviceName = {self.p}",
                                    [device])
        return [r[0] for r in rows]

    def _set_device(self, new: str, where: str, params: list) -> int:
        return self.db.driver.execute(f"UPDATE {self.images} SET DeviceName = {self.p} WHERE {where}",
                                      [new] + params)

    def _kb(self, device: str, rows) -> int:
        total = 0
        root = device_root(self.settings, device)
        for obj, *_ in rows:
            if root:
                try:
                    total += os.path.getsize(Path(root) / obj.replace("\\", "/"))
                except OSError:
                    pass
        return total // 1024

    def lru_patients(self, device: str) -> list[str]:
        """Patients on ``device``, least recently accessed first (``LRUSort`` if set)."""
        pa = self.db.schema.patient
        sort = self.settings.str("LRUSort") or "AccessTime"
        try:
            rows = self.db.driver.query(f"SELECT {pa.key.column} FROM {pa.name} ORDER BY {sort}")
        except Exception:
            rows = self.db.driver.query(f"SELECT {pa.key.column} FROM {pa.name} ORDER BY AccessTime")
        on = set(self.patients_on(device))
        return [r[0] for r in rows if r[0] in on]

    def select_lru(self, device: str, kb: int) -> bool:
        """``SelectLRUForArchival``: flag LRU patients of ``device`` up to ``kb`` KB as
        ``<device>.Archiving`` (``MAG?`` = every MAG device)."""
        if device.endswith("?"):
            return all(self.select_lru(d.name, kb) for d in devices(self.settings, "MAG"))
        archiving = f"{device}.Archiving"
        if self.patients_on(archiving):
            self.say("*** Patients were already selected for archiving")
            return False
        total = 0
        chosen: list[str] = []
        for patid in self.lru_patients(device):
            size = self._kb(device, self._rows(f"DeviceName = {self.p} AND {self.patient} = {self.p}",
                                               [device, patid]))
            if kb > 0 and total + size > kb and chosen:
                break
            chosen.append(patid)
            total += size
        for patid in chosen:
            self._set_device(archiving, f"DeviceName = {self.p} AND {self.patient} = {self.p}", [device, patid])
            self.say(f"set archive flag for patient: {patid}")
        if not total:
            self.say("nothing to do")
            return False
        self.say(f"total archive amount: {total} KB")
        return True

    def select_series(self, device: str, age: int, kb: int) -> bool:
        """``SelectSeriesForArchival``: flag series older than ``age`` days (by study date)
        up to ``kb`` KB as ``<device>.Archiving``."""
        st, se = self.db.schema.study, self.db.schema.series
        date_col = st.by_tag(0x00080020)
        cutoff = time.strftime("%Y%m%d", time.localtime(time.time() - 86400 * age))
        sql = (f"SELECT DISTINCT {self.images}.{self.series} FROM {self.images}, {se.name}, {st.name} "
               f"WHERE {self.images}.DeviceName = {self.p} AND {self.images}.{self.series} = {se.name}.{se.key.column} "
               f"AND {se.name}.{se.link.column} = {st.name}.{st.key.column}")
        params: list = [device]
        if date_col is not None and age:
            sql += f" AND {st.name}.{date_col.column} {'<' if age > 0 else '>'} {self.p}"
            params.append(cutoff)
        total, count = 0, 0
        for (series,) in self.db.driver.query(sql, params):
            size = self._kb(device, self._rows(f"DeviceName = {self.p} AND {self.series} = {self.p}",
                                               [device, series]))
            if kb > 0 and total + size > kb and count:
                break
            self._set_device(f"{device}.Archiving", f"DeviceName = {self.p} AND {self.series} = {self.p}",
                             [device, series])
            total, count = total + size, count + 1
        self.say(f"selected {count} series, {total} KB")
        return count > 0

    def restore_flags(self) -> bool:
        """``RestoreMAGFlags``: ``MAG<n>.*`` back to ``MAG<n>``."""
        for dev in devices(self.settings, "MAG"):
            self.say(f"Resetting archive flag on device: {dev.name}")
            self._set_device(dev.name, "DeviceName LIKE " + self.p, [f"{dev.name}.%"])
        return True

    # -- copying -------------------------------------------------------------------------
    def _copy_rows(self, rows, source_root: str, target_root: str, move: bool) -> bool:
        for obj, _dev, _pat, _sop in rows:
            relative = obj.replace("\\", "/")
            src, dst = Path(source_root) / relative, Path(target_root) / relative
            if not src.is_file():
                if dst.is_file():
                    continue
                self.say(f"*** missing file {src}")
                return False
            dst.parent.mkdir(parents=True, exist_ok=True)
            if self._copy_compressed(src, dst):
                continue
            shutil.copy2(src, dst)
            if not filecmp.cmp(src, dst, shallow=False):
                self.say(f"*** error comparing {src} and {dst}")
                return False
        return True

    def _copy_compressed(self, src: Path, dst: Path) -> bool:
        """Copy ``src`` to ``dst`` recompressed with ``ArchiveCompression`` (§6.7); False when
        the code leaves it as it is or the codec cannot (then the file is copied as it is).
        The copy is checked by reading it back."""
        from .compression import archive_code
        code = archive_code(self.settings).strip()
        recompress = ARCHIVE_RECOMPRESSION.fn
        if not code or code.lower().startswith(("as", "is", "v")) or recompress is None:
            return False
        from ..runtime import counters
        from .formats import UNCOMPRESSED, object_file, part10_bytes, read_file, v2_bytes, write_atomic
        try:
            stored = read_file(src)
            out = recompress(stored, code, dst.name, self.settings, counters, self.logs.operator.printf)
            if out is stored:
                return False
            if dst.name.lower().endswith(".v2"):
                if out.transfer_syntax not in UNCOMPRESSED:
                    self.say(f"*** ArchiveCompression '{code}' cannot be kept in a .v2 file: {src} copied as it is")
                    return False
                data = v2_bytes(out.dataset())
            else:
                header = out.header()
                data = part10_bytes(out, str(header.get("SOPClassUID", "")), str(header.get("SOPInstanceUID", "")))
            write_atomic(dst, data)
            object_file(dst)
        except Exception as exc:  # codec or file trouble: the plain copy below still archives it
            self.say(f"*** ArchiveCompression '{code}' failed for {src}: {exc}; copied as it is")
            return False
        return True

    def prepare_bunch(self, to: str, source: str) -> bool:
        """``PrepareBunchForBurning``: copy the patients flagged ``<source>.Archiving`` to
        the cache of JUKEBOX ``to`` (``JUKEBOXj.cd``), verify, set DeviceName = ``to`` and
        delete the on-line copies."""
        if source.endswith("?"):
            return all(self.prepare_bunch(to, d.name) for d in devices(self.settings, "MAG")
                       if self.patients_on(f"{d.name}.Archiving"))
        archiving = source if source.endswith(".Archiving") else f"{source}.Archiving"
        if not to.upper().startswith("JUKEBOX") or "." not in to:
            self.say(f"*** to-device ({to}) should have been a JUKEBOX device with a CD number")
            return False
        if self.patients_on(to):
            self.say(f"*** jukebox device has been used before: {to}")
            return False
        rows = self._rows(f"DeviceName = {self.p}", [archiving])
        if not rows:
            self.say("Nothing to do")
            return False
        src_root = device_root(self.settings, archiving)
        jukebox, cd = to[7:].split(".", 1)
        need = self._kb(archiving, rows) // 1024 + 10
        cache = next((f"CACHE{d.index}.{jukebox}.{cd}" for d in devices(self.settings, "CACHE")
                      if free_megabytes(os.path.dirname(d.root) or ".") > need), None)
        cache_root = device_root(self.settings, cache) if cache else None
        if not src_root or not cache_root:
            self.say(f"*** could not find cache drive with enough space ({need} MB)")
            return False
        self.say(f"writing to cache-device: {cache_root}")
        Path(cache_root).mkdir(parents=True, exist_ok=True)
        if not self._copy_rows(rows, src_root, cache_root, move=False):
            return False
        self._set_device(to, f"DeviceName = {self.p}", [archiving])
        for obj, _dev, _pat, _sop in rows:
            try:
                (Path(src_root) / obj.replace("\\", "/")).unlink()
            except OSError:
                pass
            if self.each:
                self.each(Path(cache_root) / obj.replace("\\", "/"), to, "archive")
        self.say(f"{len(rows)} object(s) moved to {to}")
        return True

    def move_data(self, source: str, to: str, series_only: bool = False) -> bool:
        """``MoveDataToDevice`` / ``MoveSeriesToDevice``: copy every object of ``source``
        (flagged ``.Archiving`` ones for series) to device ``to``, verify, set DeviceName,
        delete the source files."""
        where_device = f"{source}.Archiving" if series_only and not source.endswith(".Archiving") else source
        rows = self._rows(f"DeviceName = {self.p}", [where_device])
        src_root, dst_root = device_root(self.settings, where_device), device_root(self.settings, to)
        if not src_root or not dst_root:
            self.say(f"*** invalid device: {source if not src_root else to}")
            return False
        if not self._copy_rows(rows, src_root, dst_root, move=True):
            return False
        self._set_device(to, f"DeviceName = {self.p}", [where_device])
        for obj, _dev, _pat, _sop in rows:
            try:
                (Path(src_root) / obj.replace("\\", "/")).unlink()
            except OSError:
                pass
            if self.each:
                self.each(Path(dst_root) / obj.replace("\\", "/"), to, "move")
        self.say(f"moved {len(rows)} object(s) from {source} to {to}")
        return True

    # -- checks --------------------------------------------------------------------------
    def _cache_of(self, jukebox_device: str) -> str | None:
        jukebox, _, cd = jukebox_device[7:].partition(".")
        for d in devices(self.settings, "CACHE"):
            root = device_root(self.settings, f"CACHE{d.index}.{jukebox}.{cd}")
            if root and Path(root).is_dir():
                return root
        self.say(f"*** could not find cache directory for: {jukebox_device}")
        return None

    def _compare(self, device: str, first: str, second: str, differs: str, summary: str) -> bool:
        """Every object of ``device`` is a file under both roots, byte for byte the same."""
        bad = 0
        for obj, *_ in self._rows(f"DeviceName = {self.p}", [device]):
            rel = obj.replace("\\", "/")
            a, b = Path(first) / rel, Path(second) / rel
            if not (a.is_file() and b.is_file() and filecmp.cmp(a, b, shallow=False)):
                self.say(f"*** {differs}: {rel}")
                bad += 1
        self.say(f"{summary} {device}: {bad} error(s)")
        return bad == 0

    def compare_bunch(self, device: str) -> bool:
        """``CompareBunchAfterBurning``: the burnt JUKEBOX copy equals the cache copy."""
        cache, burnt = self._cache_of(device), device_root(self.settings, device)
        if not cache or not burnt:
            return False
        return self._compare(device, cache, burnt, "file differs or is missing", "compare of")

    def delete_bunch(self, device: str) -> bool:
        """``DeleteBunchAfterBurning``: remove the cache copies of a burnt JUKEBOX device
        (each only when the burnt copy exists)."""
        cache, burnt = self._cache_of(device), device_root(self.settings, device)
        if not cache or not burnt:
            return False
        for obj, *_ in self._rows(f"DeviceName = {self.p}", [device]):
            rel = obj.replace("\\", "/")
            if (Path(burnt) / rel).is_file():
                try:
                    (Path(cache) / rel).unlink()
                except OSError:
                    pass
            else:
                self.say(f"*** not on burnt copy, cache copy kept: {rel}")
                return False
        shutil.rmtree(cache, ignore_errors=True)
        return True

    def verify_mirror(self, device: str) -> bool:
        """``VerifyMirrorDisk``: every object of MAG n is identical on MIRROR n."""
        mirror = device_root(self.settings, "MIRROR" + device[3:].split(".")[0])
        root = device_root(self.settings, device)
        if not mirror or not root:
            self.say(f"*** no mirror for {device}")
            return False
        return self._compare(device, root, mirror, "mirror file differs or is missing", "mirror verify of")

    def test_images(self, device: str) -> bool:
        """``TestImages``: every object of ``device`` can be read."""
        from .formats import read_file
        root = device_root(self.settings, device)
        bad = 0
        for obj, *_ in self._rows(f"DeviceName = {self.p}", [device]):
            try:
                read_file(Path(root or "") / obj.replace("\\", "/")).dataset()
            except Exception as exc:
                self.say(f"*** bad object {obj}: {exc}")
                bad += 1
        self.say(f"tested {device}: {bad} error(s)")
        return bad == 0

    def rename(self, old: str, new: str) -> bool:
        """``RenameDevice``: DeviceName ``old`` → ``new`` in the database."""
        n = self._set_device(new, f"DeviceName = {self.p}", [old])
        self.say(f"renamed device {old} to {new} ({n} objects)")
        return True

    def make_space(self, mb: int, protected: set[str] | frozenset[str] = frozenset()) -> int:
        """``makespace``: delete least recently used patients of the MAG devices until
        the largest free MAG has ``mb`` MB; the number of patients deleted. Patients in
        ``protected`` (still needed by an export queue) are kept."""
        mags = [d for d in devices(self.settings, "MAG") if d.root not in ("", "NULL")]
        deleted = 0
        tried: set[str] = set()
        while mags and max(free_megabytes(d.root) for d in mags) < mb:
            victim = next((p for d in mags for p in self.lru_patients(d.name)
                           if p not in protected and p not in tried), None)
            if victim is None:
                break
            tried.add(victim)
            for item in self.db.delete(patient_id=victim):
                remove_stored_file(self.settings, item.object_file, item.device)
            self.logs.operator.printf(f"Deleted patient to make space: {victim}\n")
            deleted += 1
        return deleted
