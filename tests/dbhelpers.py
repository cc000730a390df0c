"""Helpers for database tests: synthetic objects and a database on a config folder."""
from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from dgate.config import Configuration
from dgate.config.defaults import conf_dir, create_default_config
from dgate.config.ini import put_param
from dgate.db import open_database


def make_ds(sop="1.2.3.1.1.1", series="1.2.3.1.1", study="1.2.3.1", patid="PAT1", name="DOE^JOHN",
            modality="CT", date="20200101", time="101010", **extra) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = sop
    ds.SeriesInstanceUID = series
    ds.StudyInstanceUID = study
    if patid is not None:
        ds.PatientID = patid
    ds.PatientName = name
    ds.Modality = modality
    ds.StudyDate = date
    ds.StudyTime = time
    ds.SeriesNumber = "1"
    ds.InstanceNumber = str(extra.pop("number", 1))
    for key, value in extra.items():
        setattr(ds, key, value)
    return ds


def make_db(folder: Path, ini_extra: str = "", sql: str | None = None, driver: str = "sqlite"):
    """A database on a fresh config folder, tables initialised (``driver`` from dbdrivers)."""
    from dbdrivers import ensure_database
    create_default_config(folder)
    ini_extra = ensure_database(driver) + "\n" + ini_extra
    for line in ini_extra.strip().splitlines():
        key, _, value = line.partition("=")
        put_param(folder / "dicom.ini", key.strip(), value.strip())
    if sql is not None:
        (folder / "dicom.sql").write_text(sql)
    config = Configuration.open(folder)
    db = open_database(config)
    db.initialize_tables(2, echo=lambda text: None)   # the shared server databases keep a worklist
    db.initialize_tables(0, echo=lambda text: None)
    return db


def dbase_folder(tmp_path: Path) -> Path:
    """A default config folder in ``tmp_path`` using the built-in dBase driver (SQLServer is
    the folder of the .dbf files, SQLite=0, dicom.sql.dbase); the .dbf folder."""
    create_default_config(tmp_path)
    folder = tmp_path / "data" / "dbase"
    folder.mkdir(parents=True, exist_ok=True)
    put_param(tmp_path / "dicom.ini", "SQLServer", f"{folder}/")
    put_param(tmp_path / "dicom.ini", "SQLite", "0")
    (tmp_path / "dicom.sql").write_text((conf_dir() / "dicom.sql.dbase").read_text())
    return folder
