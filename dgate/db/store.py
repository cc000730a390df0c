"""Entering an object into the index: ``SaveToDataBase`` (conquest-storage.md §3.3).

Tables are written bottom-up (image, series, study, patient) inside one transaction,
so a refusal at a higher level leaves nothing behind (the original deletes the rows it
just added; a transaction gives the same end state without the window).

Per table (``UpdateOrAddToTable``): the columns are the dicom.sql entries whose element
is present with non-zero length; the row is found by its key (plus the patient-ID
column in the series and image tables); a missing row is inserted, an existing one is
checked and updated:

* the stored value must be a case-insensitive prefix of the new one, otherwise: a link
  column refuses the store (``***Refused to enter inconsistent link``), a birth date
  logs ``***Inconsistent``, other columns go to TroubleLog; the update proceeds;
* StudyModality is merged (``MR`` into ``CT`` gives ``MR\\CT``);
* two study rows for one key refuse the store (``***Duplicate found``).

An update identical to one done recently (same values, same 32-s AccessTime) is skipped
(the original's ring of 256 UPDATE texts). A new image (``just_add``) is inserted
without looking first; a duplicate key there counts as success, as in the original.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from ..config.keys import Settings
from ..log import Logs, printable
from .driver import DatabaseError, Driver, DuplicateKey
from .schema import Schema, Table
from .values import element_bytes, stored_value

PATIENT_ID = 0x00100020
PATIENT_NAME = 0x00100010
BIRTH_DATE = 0x00100030
SEX = 0x00100040
MODALITY = 0x00080060
STUDY_MODALITY = 0x00080061
STUDY_UID = 0x0020000D
CREATION_DATE = 0x00080012


class StoreRefused(DatabaseError):
    """The object conflicts with the index (inconsistent link, duplicate study)."""


def access_time(now: float | None = None) -> int:
    """``CurrentTime``: Unix seconds rounded down to a multiple of 32."""
    return int(now if now is not None else time.time()) & ~31


@dataclass
class IndexValues:
    """The raw bytes of the elements the index needs, taken from one object."""

    raw: dict[int, bytes] = field(default_factory=dict)
    little_endian: bool = True

    @classmethod
    def from_dataset(cls, ds: Dataset, tags: set[int]) -> "IndexValues":
        raw = {}
        for tag in tags:
            value = element_bytes(ds, tag)
            if value is not None:
                raw[tag] = value
        little = ds.is_little_endian if ds.is_little_endian is not None else True
        return cls(raw, little)

    def present(self, tag: int) -> bool:
        """Present with non-zero length (the condition for writing a column)."""
        return bool(self.raw.get(tag))

    def text(self, tag: int) -> str:
        value = self.raw.get(tag)
        return value.decode("latin-1").rstrip(" \0") if value else ""


_update_cache_lock = threading.Lock()
_update_cache: "OrderedDict[tuple, None]" = OrderedDict()
UPDATE_CACHE_SIZE = 256


_generation = 0


def clear_update_cache() -> None:
    """Forget recent updates (after deletions and failures, as the original does)."""
    global _generation
    with _update_cache_lock:
        _update_cache.clear()
        _generation += 1


def update_cache_generation() -> int:
    """How many times this process cleared the cache (the hub tells its workers to clear
    theirs when it changes, so a deletion in the hub is not hidden by a worker's cache)."""
    return _generation


class Store:
    """Writes objects into the Conquest tables through a :class:`Driver`."""

    def __init__(self, driver: Driver, schema: Schema, settings: Settings, logs: Logs):
        self.driver = driver
        self.schema = schema
        self.settings = settings
        self.logs = logs
        self.tags = {e.tag for lvl in ("patient", "study", "series", "image")
                     for e in schema.table(lvl).entries} | {PATIENT_ID, MODALITY, CREATION_DATE, PATIENT_NAME}
        self._insert_sql: dict[tuple, str] = {}
        # (entry, tag) pairs per table: DBEntry.tag is computed on every access
        self._entries = {table.name: tuple((e, e.tag) for e in table.entries)
                         for table in (schema.image, schema.series, schema.study, schema.patient)}
        self._allow_text: str | None = None
        self._allow: set[str] = set()

    # -- public ------------------------------------------------------------------------
    def save(self, values: IndexValues, object_file: str, device: str,
             just_add: bool = False, filename_for_log: str = "", strict: bool = False) -> None:
        """Enter one object; raises :class:`StoreRefused` or :class:`DatabaseError`.

        ``strict``: a duplicate key on the image row (``just_add``) raises
        :class:`DuplicateKey` instead of counting as success, so the caller can tell an
        instance that is indexed for another patient from one that was stored.
        """
        values = self._patient_id_rules(values)
        patid = values.text(PATIENT_ID)
        modality = values.text(MODALITY)
        now = access_time()
        extra_image = [("ObjectFile", object_file), ("DeviceName", device)]
        try:
            with self.driver.transaction():
                self._update_or_add(self.schema.image, values, patid, modality, now,
                                    extra_image, just_add, filename_for_log, strict)
                self._update_or_add(self.schema.series, values, patid, modality, now,
                                    [], False, filename_for_log)
                self._update_or_add(self.schema.study, values, patid, modality, now,
                                    [], False, filename_for_log)
                if patid or not self.settings.int("AllowEmptyPatientID"):
                    self._update_or_add(self.schema.patient, values, patid, modality, now,
                                        [], False, filename_for_log)
        except DatabaseError:
            clear_update_cache()
            raise

    # -- patient ID (step 1 of SaveToDataBase) ----------------------------------------------
    def _patient_id_rules(self, values: IndexValues) -> IndexValues:
        raw = dict(values.raw)
        if PATIENT_ID not in raw:
            raw[PATIENT_ID] = b""
        if not raw[PATIENT_ID].strip(b" \0"):
            if self.settings.int("AllowEmptyPatientID"):
                borrowed = self._borrow_patient_id(values)
                raw[PATIENT_ID] = borrowed.encode("latin-1")
            else:
                name = raw.get(PATIENT_NAME, b"").rstrip(b" \0")
                date = raw.get(CREATION_DATE, b"").rstrip(b" \0")
                synthetic = (name + date)[:62] or b"0"
                raw[PATIENT_ID] = synthetic
        return IndexValues(raw, values.little_endian)

    def _borrow_patient_id(self, values: IndexValues) -> str:
        study = self.schema.study
        uid = values.text(STUDY_UID)
        if not uid:
            return ""
        pat = study.by_tag(PATIENT_ID)
        if pat is None:
            return ""
        rows = self.driver.query(
            f"SELECT {study.name}.{pat.column} FROM {study.name} WHERE {study.name}.{study.key.column} = "
            f"{self.driver.text_param}", [uid])
        return rows[0][0] or "" if rows else ""

    # -- one table ---------------------------------------------------------------------
    def _allowed_truncations(self) -> set[str]:
        text = self.settings.str("AllowTruncate")
        if text != self._allow_text:
            self._allow = {c.strip().lower() for c in text.split(",") if c.strip()}
            self._allow_text = text
        return self._allow

    def _columns(self, table: Table, values: IndexValues, modality: str, filename: str) -> list[tuple[str, str]]:
        utf8 = bool(self.settings.int("UTF8ToDB"))
        allow = self._allowed_truncations()
        columns: list[tuple[str, str]] = []
        raw = values.raw
        study = table.level == "study"
        entries = self._entries.get(table.name) or tuple((e, e.tag) for e in table.entries)
        for entry, tag in entries:
            if study and tag == STUDY_MODALITY:
                continue
            value_bytes = raw.get(tag)
            if not value_bytes:
                continue
            value = stored_value(value_bytes, entry, values.little_endian, utf8)
            if entry.length and len(value) > entry.length:
                stars = "" if entry.column.lower() in allow else "***"
                self.logs.operator.printf(f"{stars}Truncated {entry.column} from {len(value)} to "
                                          f"{entry.length} chars in file: {filename}\n")
                value = value[:entry.length]
            columns.append((entry.column, value))
        if table.level == "study" and modality:
            sm = table.by_tag(STUDY_MODALITY)
            if sm is not None:
                columns.append((sm.column, modality[:sm.length] if sm.length else modality))
        return columns

    def _where(self, table: Table, values: IndexValues, patid: str) -> tuple[str, list[str], str]:
        key_value = stored_value(values.raw.get(table.key.tag, b""), table.key, values.little_endian)
        if not key_value:
            tag = table.key.tag
            raise StoreRefused(f"***Object has no {table.key.column} ({tag >> 16:04x},{tag & 0xFFFF:04x}); "
                               f"cannot enter it into {table.name}")
        p = self.driver.text_param
        sql = f"{table.key.column} = {p}"
        params = [key_value]
        shown = f"{table.key.column} = '{key_value}'"
        pat_col = table.patient_column()
        if pat_col is not None:
            sql += f" AND {pat_col.column} = {p}"
            params.append(patid)
            shown += f" AND {pat_col.column} = '{patid}'"
        return sql, params, shown

    def _update_or_add(self, table: Table, values: IndexValues, patid: str, modality: str,
                       now: int, extra: list[tuple[str, str]], just_add: bool, filename: str,
                       strict: bool = False) -> None:
        cache_key = None
        if table.level != "image" and not just_add:
            # the same raw values (and patient ID, modality) give the same columns: skip
            # recomputing them for an update done recently (the original's ring of UPDATEs)
            raw = values.raw
            entries = self._entries.get(table.name) or tuple((e, e.tag) for e in table.entries)
            cache_key = (table.name, tuple(raw.get(tag) for _e, tag in entries), patid,
                         modality if table.level == "study" else "", now)
            with _update_cache_lock:
                if cache_key in _update_cache:
                    _update_cache.move_to_end(cache_key)
                    return
        columns = self._columns(table, values, modality, filename)
        where, where_params, shown = self._where(table, values, patid)
        p = self.driver.text_param

        if just_add:
            self._insert(table, columns, extra, now, strict)
            return

        names = [c for c, _ in columns]
        rows = self.driver.query(f"SELECT {', '.join(names) or table.key.column} FROM {table.name} "
                                 f"WHERE {where}", where_params)
        if not rows:
            self._insert(table, columns, extra, now)
        else:
            if table.level == "study" and len(rows) > 1:
                raise StoreRefused(f"***Duplicate found in {table.name} WHERE {shown}")
            stored = dict(zip(names, ((v or "").rstrip(" ") for v in rows[0])))
            columns = self._check_and_merge(table, columns, stored, patid, shown)
            sets = [f"{c} = {p}" for c, _ in columns] + [f"AccessTime = {self.driver.int_param}"]
            sets += [f"{c} = {p}" for c, _ in extra]
            params = [v for _, v in columns] + [now] + [v for _, v in extra] + where_params
            self.driver.execute(f"UPDATE {table.name} SET {', '.join(sets)} WHERE {where}", params)
        if cache_key is not None:
            with _update_cache_lock:
                _update_cache[cache_key] = None
                while len(_update_cache) > UPDATE_CACHE_SIZE:
                    _update_cache.popitem(last=False)

    def _insert(self, table: Table, columns: list[tuple[str, str]], extra: list[tuple[str, str]], now: int,
                strict: bool = False) -> None:
        key = (table.name, tuple(c for c, _ in columns), tuple(c for c, _ in extra))
        sql = self._insert_sql.get(key)
        if sql is None:
            p = self.driver.text_param
            names = list(key[1]) + ["AccessTime"] + list(key[2])
            marks = [p] * len(columns) + [self.driver.int_param] + [p] * len(extra)
            sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(marks)})"
            if len(self._insert_sql) < 256:
                self._insert_sql[key] = sql
        params = [v for _, v in columns] + [now] + [v for _, v in extra]
        try:
            self.driver.execute(sql, params)
        except DuplicateKey:
            if strict:
                raise
            # the original counts a duplicate key as success

    def _check_and_merge(self, table: Table, columns: list[tuple[str, str]], stored: dict[str, str],
                         patid: str, shown: str) -> list[tuple[str, str]]:
        merged = []
        link = table.link.column if table.level != "patient" else None
        sm = table.by_tag(STUDY_MODALITY) if table.level == "study" else None
        for column, new in columns:
            old = stored.get(column, "")
            if sm is not None and column == sm.column:
                if old and new not in old.split("\\"):
                    new = f"{new}\\{old}"
                elif old:
                    new = old
                merged.append((column, new[:sm.length] if sm.length else new))
                continue
            if old and not new.lower().startswith(old.lower()):
                where = printable(f"PatientID = '{patid}' {shown}")
                if column == link:
                    raise StoreRefused(f"***Refused to enter inconsistent link {column} into {table.name}: "
                                       f"{where}, Old='{printable(old)}', Refused='{printable(new)}'")
                entry = next(e for e in table.entries if e.column == column)
                quiet = table.level == "patient" and (
                    not new
                    or (entry.tag == BIRTH_DATE and new.endswith("0101") and not old.endswith("0101"))
                    or (entry.tag == SEX and new not in ("M", "F")))
                if quiet:
                    pass
                elif entry.tag == BIRTH_DATE:
                    self.logs.operator.printf(f"***Inconsistent {column} in {table.name}: {where}, "
                                              f"Old='{printable(old)}', New='{printable(new)}'\n")
                else:
                    self.logs.trouble.printf(f"Inconsistent {column} in {table.name}: {where}, "
                                             f"Old='{printable(old)}', New='{printable(new)}'\n")
            merged.append((column, new))
        return merged
