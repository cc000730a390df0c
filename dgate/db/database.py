"""The one database interface every other part of dgate uses.

:class:`Database` wraps a driver (SQLite, NULL, ...) with the Conquest schema and
offers domain operations: initialise tables, enter an object, query at a level or on
the worklist, look up an image's file, delete at every level, map UIDs (UIDMODS).
Open one per thread or association, as the original opens one per thread.
"""
from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass

from pydicom.dataset import Dataset

from ..config import Configuration
from ..log import Logs
from ..log import logs as process_logs
from ..uids import gen_uid
from .driver import DatabaseError, Driver, open_driver
from .query import QueryBuilder
from .schema import LEVELS, Schema
from .store import IndexValues, Store, clear_update_cache
from .worklist import WorklistQuery


@dataclass(frozen=True)
class StoredFile:
    """Where an image lives: path relative to the device root, and the device name."""

    object_file: str
    device: str
    patient_id: str = ""
    sop_uid: str = ""


@dataclass(frozen=True)
class InstanceFile:
    """An instance with its place in the hierarchy and its file (web retrieval)."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class: str
    object_file: str
    device: str


class Database:
    def __init__(self, config: Configuration, driver: Driver | None = None, logs: Logs | None = None,
                 own_ae: str | None = None):
        self.config = config
        self.settings = config.settings
        self.logs = logs or process_logs
        self.driver = driver or open_driver(self.settings)
        self.schema = Schema.build(config.kfactor, config.table_names(), self.settings.int("MaxFieldLength"))
        self.store_rules = Store(self.driver, self.schema, self.settings, self.logs)
        self.queries = QueryBuilder(self.driver, self.schema, self.settings,
                                    own_ae if own_ae is not None else self.settings.str("MyACRNema"))
        self.worklist = WorklistQuery(self.queries)

    @property
    def label(self) -> str:
        return self.driver.label

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- schema --------------------------------------------------------------------------
    def initialize_tables(self, mode: int = 0, echo=None) -> None:
        """``InitializeTables``: drop and create (0 full, 1 no keys/indices, 2 worklist only).

        A worklist holding rows is kept unless mode is 2. Progress lines go to ``echo``
        (stderr by default, as the original).
        """
        say = echo or (lambda text: sys.stderr.write(text))
        s = self.schema
        say("Dropping Existing tables (if-any)\n")
        keep_worklist = False
        if mode != 2:
            try:
                column = s.worklist.columns[1] if len(s.worklist.columns) > 1 else s.worklist.key.column
                keep_worklist = bool(self.driver.query(
                    f"SELECT {s.worklist.name}.{column} FROM {s.worklist.name} LIMIT 1"))
            except DatabaseError:
                keep_worklist = False
        if keep_worklist:
            say("Worklist contains data: kept\n")
        else:
            say("Worklist is empty\n" if mode != 2 else "")
            say("Dropping worklist\n")
            self._drop(s.worklist.name)
        if mode != 2:
            say("Dropping other tables\n")
            for level in LEVELS:
                self._drop(s.table(level).name)
            self._drop("UIDMODS")
        for statement in s.ddl(mode):
            if statement.startswith(f"CREATE TABLE {s.worklist.name} ") and keep_worklist:
                continue
            if statement.startswith("CREATE TABLE"):
                name = statement.split()[2]
                label = {s.worklist.name: "WorkList", s.patient.name: "Patient", s.study.name: "Study",
                         s.series.name: "Series", s.image.name: "Image"}.get(name, name)
                if label != "UIDMODS":                # the original creates it without a line
                    say(f"{label} Database\n")
            self.driver.execute(statement)
        clear_update_cache()

    def _drop(self, name: str) -> None:
        try:
            self.driver.execute(f"DROP TABLE {name}")
        except DatabaseError:
            pass

    # -- storing -------------------------------------------------------------------------
    def index_values(self, ds: Dataset) -> IndexValues:
        return IndexValues.from_dataset(ds, self.store_rules.tags)

    def add(self, ds: Dataset | IndexValues, object_file: str, device: str = "MAG0",
            just_add: bool = False, filename_for_log: str = "", strict: bool = False) -> None:
        """``SaveToDataBase``: enter an object; raises StoreRefused/DatabaseError (and
        DuplicateKey for an existing image row when ``strict``)."""
        values = ds if isinstance(ds, IndexValues) else self.index_values(ds)
        self.store_rules.save(values, object_file, device, just_add, filename_for_log or object_file, strict)

    def ensure_tables(self, echo=None) -> bool:
        """Create the tables (as ``dgate -i``) when the image table does not exist; True
        when they were created. Used at server start so a first run stores at once."""
        im = self.schema.image
        try:
            self.driver.query(f"SELECT {im.key.column} FROM {im.name} LIMIT 1")
            return False
        except DatabaseError:
            pass
        self.initialize_tables(0, echo=echo or (lambda text: None))
        return True

    # -- querying ------------------------------------------------------------------------
    def find(self, level: str, identifier: Dataset) -> list[Dataset]:
        return self.queries.find(level, identifier)

    def find_worklist(self, identifier: Dataset, query_hook=None, result_hook=None) -> list[Dataset]:
        """Modality worklist responses (:mod:`.worklist`; hooks are the worklist converters)."""
        return self.worklist.find(identifier, query_hook, result_hook)

    def count(self, level: str, identifier: Dataset) -> int:
        return self.queries.count(level, identifier)

    def sql(self, sql: str, params=()) -> list[tuple]:
        """A raw statement from a trusted local caller (``query:`` server command)."""
        return self.driver.query(sql, params)

    def get_file(self, sop_uid: str, patient_id: str | None = None) -> StoredFile | None:
        """``GetFileName``: the file of an image, by SOP instance UID (and patient ID)."""
        im = self.schema.image
        p = self.driver.text_param
        pat = im.patient_column()
        sql = f"SELECT ObjectFile, DeviceName, {pat.column if pat else im.key.column} FROM {im.name} " \
              f"WHERE {im.key.column} = {p}"
        params = [sop_uid]
        if patient_id and pat is not None:
            sql += f" AND {pat.column} = {p}"
            params.append(patient_id)
        rows = self.driver.query(sql, params)
        if not rows:
            return None
        obj, dev, patid = rows[0]
        return StoredFile(obj or "", dev or "", patid or "", sop_uid)

    def files_of(self, sop_uid: str) -> list[StoredFile]:
        """Every image row of a SOP instance UID, whatever the patient."""
        im = self.schema.image
        pat = im.patient_column()
        rows = self.driver.query(f"SELECT ObjectFile, DeviceName, {pat.column if pat else im.key.column} "
                                 f"FROM {im.name} WHERE {im.key.column} = {self.driver.text_param}", [sop_uid])
        return [StoredFile(o or "", d or "", p or "", sop_uid) for o, d, p in rows]

    def images(self, patient_id: str = "", study_uid: str = "", series_uid: str = "",
               sop_uid: str = "", study_date: str = "") -> list[StoredFile]:
        """Images selected like ``RemoveFromPACS`` selects them (any combination of keys)."""
        ident = Dataset()
        for tag, value in ((0x00100020, patient_id), (0x0020000D, study_uid),
                           (0x0020000E, series_uid), (0x00080018, sop_uid), (0x00080020, study_date)):
            if value:
                ident.add_new(tag, {0x00100020: "LO", 0x00080020: "DA"}.get(tag, "UI"), value)
        return self.stored_files(ident)

    def stored_files(self, identifier: Dataset) -> list[StoredFile]:
        """Files of the images matching an image-level identifier (C-MOVE/C-GET, deletion)."""
        im = self.schema.image
        built = self.queries.build("IMAGE", identifier, select=[
            f"{im.name}.ObjectFile", f"{im.name}.DeviceName",
            f"{im.name}.{(im.patient_column() or im.key).column}", f"{im.name}.{im.key.column}"])
        return [StoredFile(o or "", d or "", p or "", u or "") for o, d, p, u in
                self.driver.query(built.sql, built.params)]

    def children(self, level: str, parent_uid: str, patient_id: str = "", columns: list[str] | None = None,
                 numeric_order_tag: int | None = None) -> list[tuple]:
        """Rows of ``level`` (series or image) below one parent, optionally for one patient.

        ``columns`` defaults to the key; ``numeric_order_tag`` sorts numerically on that
        element's column (``ImageNumber`` for listers).
        """
        table = self.schema.table(level)
        p = self.driver.text_param
        sql = f"SELECT {', '.join(columns or [table.key.column])} FROM {table.name} WHERE {table.link.column} = {p}"
        params = [parent_uid]
        pat = table.patient_column()
        if patient_id and pat is not None:
            sql += f" AND {pat.column} = {p}"
            params.append(patient_id)
        order = table.by_tag(numeric_order_tag) if numeric_order_tag else None
        if order is not None:
            sql += f" ORDER BY {self.driver.numeric(order.column)}"
        return self.driver.query(sql, params)

    # -- web (DICOMweb) helpers ---------------------------------------------------------
    def instance_files(self, study_uid: str = "", series_uid: str = "", sop_uid: str = "") -> list[InstanceFile]:
        """Stored instances of a study, series or instance with their files, in series
        then ``ImageNumber`` order (WADO-RS retrieve and metadata)."""
        s = self.schema
        im, se = s.image, s.series
        p = self.driver.text_param
        number = im.by_tag(0x00200013)
        sop_class = im.by_tag(0x00080016)
        cols = [f"{se.name}.{se.link.column}", f"{im.name}.{im.link.column}", f"{im.name}.{im.key.column}",
                f"{im.name}.{sop_class.column}" if sop_class else "''",
                f"{im.name}.ObjectFile", f"{im.name}.DeviceName"]
        where = [f"{im.name}.{im.link.column} = {se.name}.{se.key.column}"]
        params: list = []
        for col, value in ((f"{se.name}.{se.link.column}", study_uid), (f"{im.name}.{im.link.column}", series_uid),
                           (f"{im.name}.{im.key.column}", sop_uid)):
            if value:
                where.append(f"{col} = {p}")
                params.append(value)
        order = [f"{im.name}.{im.link.column}"]
        if number is not None:
            order.append(self.driver.numeric(f"{im.name}.{number.column}"))
        order.append(f"{im.name}.{im.key.column}")
        sql = (f"SELECT {', '.join(cols)} FROM {im.name}, {se.name} WHERE {' AND '.join(where)} "
               f"ORDER BY {', '.join(order)}")
        return [InstanceFile(st or "", sr or "", u or "", c or "", o or "", d or "")
                for st, sr, u, c, o, d in self.driver.query(sql, params)]

    def child_counts(self, level: str, parent_uids: list[str]) -> dict[str, tuple[int, int]]:
        """For study UIDs: (series, instances) counts; for series UIDs: (0, instances).

        One grouped query (``NumberOfStudyRelatedSeries`` etc. without a query per row).
        With more than 500 parents the whole table is grouped and filtered here.
        """
        s = self.schema
        im, se = s.image, s.series
        p = self.driver.text_param
        wanted = set(parent_uids)
        if not wanted:
            return {}
        use_in = len(wanted) <= 500
        params = sorted(wanted) if use_in else []
        counts: dict[str, list[int]] = {}
        if level.upper() == "STUDY":
            marks = ", ".join([p] * len(params))
            filt = f" AND {se.name}.{se.link.column} IN ({marks})" if use_in else ""
            for uid, n in self.driver.query(
                    f"SELECT {se.name}.{se.link.column}, COUNT(1) FROM {se.name} WHERE 1=1{filt} "
                    f"GROUP BY {se.name}.{se.link.column}", params):
                counts.setdefault(uid or "", [0, 0])[0] = int(n)
            for uid, n in self.driver.query(
                    f"SELECT {se.name}.{se.link.column}, COUNT(1) FROM {im.name}, {se.name} "
                    f"WHERE {im.name}.{im.link.column} = {se.name}.{se.key.column}{filt} "
                    f"GROUP BY {se.name}.{se.link.column}", params):
                counts.setdefault(uid or "", [0, 0])[1] = int(n)
        else:
            filt = f" WHERE {im.link.column} IN ({', '.join([p] * len(params))})" if use_in else ""
            for uid, n in self.driver.query(
                    f"SELECT {im.link.column}, COUNT(1) FROM {im.name}{filt} GROUP BY {im.link.column}", params):
                counts.setdefault(uid or "", [0, 0])[1] = int(n)
        return {uid: (c[0], c[1]) for uid, c in counts.items() if uid in wanted}

    # -- deleting ------------------------------------------------------------------------
    def delete_image(self, sop_uid: str, patient_id: str) -> None:
        """``NewDeleteSopFromDB``: remove one image row, then empty parents and worklist."""
        s = self.schema
        p = self.driver.text_param
        im, se, st, pa = s.image, s.series, s.study, s.patient
        with self.driver.transaction():
            pat = im.patient_column()
            on_patient = f" AND {pat.column} = {p}" if pat is not None else ""
            rows = self.driver.query(f"SELECT {im.link.column} FROM {im.name} WHERE {im.key.column} = {p}"
                                     + on_patient, [sop_uid, patient_id] if pat is not None else [sop_uid])
            if not rows:
                return
            series_uid = rows[0][0] or ""
            self.driver.execute(f"DELETE FROM {im.name} WHERE {im.key.column} = {p}" + on_patient,
                                [sop_uid, patient_id] if pat is not None else [sop_uid])
            if self.driver.query(f"SELECT {im.key.column} FROM {im.name} WHERE {im.link.column} = {p} LIMIT 1",
                                 [series_uid]):
                return
            study_rows = self.driver.query(f"SELECT {se.link.column} FROM {se.name} WHERE {se.key.column} = {p}",
                                           [series_uid])
            self.driver.execute(f"DELETE FROM {se.name} WHERE {se.key.column} = {p}", [series_uid])
            if not study_rows:
                return
            study_uid = study_rows[0][0] or ""
            if self.driver.query(f"SELECT {se.key.column} FROM {se.name} WHERE {se.link.column} = {p} LIMIT 1",
                                 [study_uid]):
                return
            self.driver.execute(f"DELETE FROM {st.name} WHERE {st.key.column} = {p}", [study_uid])
            if self.driver.query(f"SELECT {st.key.column} FROM {st.name} WHERE {st.link.column} = {p} LIMIT 1",
                                 [patient_id]):
                return
            self.driver.execute(f"DELETE FROM {pa.name} WHERE {pa.key.column} = {p}", [patient_id])
            wl = s.worklist
            wl_pat = wl.by_tag(0x00100020)
            if wl_pat is not None:
                self.driver.execute(f"DELETE FROM {wl.name} WHERE {wl_pat.column} = {p}", [patient_id])
        clear_update_cache()

    def delete(self, **keys) -> list[StoredFile]:
        """Remove every image selected by ``keys`` (see :meth:`images`) from the index.

        Returns the removed files; deleting them from disk is the storage layer's job.
        """
        removed = self.images(**keys)
        for item in removed:
            self.delete_image(item.sop_uid, item.patient_id)
        return removed

    # -- UID mapping (UIDMODS, conquest-storage.md §3.8) --------------------------------
    def change_uid(self, old: str, mod_type: str = "--changeuid", stage: str = "",
                   annotation: str = "") -> str:
        """The new UID mapped to ``old`` for ``stage``, created on first use (an empty
        annotation is NULL, as the original writes it)."""
        prefix = self.settings.str("UIDPrefix")
        if stage.startswith("#"):
            return hashed_uid(prefix, old, stage)
        stage_value = stage or "(empty)"
        p = self.driver.text_param
        rows = self.driver.query(f"SELECT NewUID FROM UIDMODS WHERE OldUID = {p} AND Stage = {p}",
                                 [old, stage_value])
        if rows:
            return rows[0][0]
        new = gen_uid(prefix, 7)
        self.driver.execute(f"INSERT INTO UIDMODS (MODTime, OldUID, MODType, NewUID, Stage, Annotation) "
                            f"VALUES ({self.driver.int_param}, {p}, {p}, {p}, {p}, {p})",
                            [int(time.time()), old, mod_type, new, stage_value, annotation or None])
        return new

    def change_uid_back(self, new: str, stage: str = "") -> str | None:
        p = self.driver.text_param
        rows = self.driver.query(f"SELECT OldUID FROM UIDMODS WHERE NewUID = {p} AND Stage = {p}",
                                 [new, stage or "(empty)"])
        return rows[0][0] if rows else None


def hashed_uid(prefix: str, old: str, stage: str) -> str:
    """A table-free mapped UID for ``#`` stages: MD5 of prefix+old+stage in 5-digit groups."""
    digest = hashlib.md5((prefix + old + stage).encode("latin-1")).digest()
    uid = prefix[:25]
    for i in range(0, len(digest), 2):
        part = f".{int.from_bytes(digest[i:i + 2], 'little'):05d}"
        if len(uid) + len(part) > 58:
            break
        uid += part
    return uid[:25] + uid[25:].replace(".0", ".1")


def open_database(config: Configuration, logs: Logs | None = None, own_ae: str | None = None) -> Database:
    return Database(config, logs=logs, own_ae=own_ae)
