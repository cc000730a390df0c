"""Index N synthetic instances and time C-FIND-style queries at each level.

Usage: python3 bench/bench_db.py [N] [driver ...]

Drivers: sqlite (default), postgres, mysql, odbc (the test servers of tests/dbdrivers.py),
dbase (a DBF folder with the denormalised dicom.sql).
Each driver is measured in turn in the same run, so the figures can be compared.

Layout: N/1000 patients x 10 studies x 10 series x 10 images. Reports the insert rate
through the full store rules (Database.add with index values) and the median latency of
study-, series- and image-level queries, each run 50 times interleaved.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydicom.dataset import Dataset  # noqa: E402

from dgate.config import Configuration  # noqa: E402
from dgate.config.defaults import create_default_config  # noqa: E402
from dgate.db import open_database  # noqa: E402
from dgate.db.store import IndexValues  # noqa: E402


def values(p: int, st: int, se: int, im: int) -> IndexValues:
    root = f"1.2.826.0.1.99.{p}.{st}"
    raw = {
        0x00100020: f"PAT{p:05d}".encode(), 0x00100010: f"NAME{p:05d}^TEST".encode(),
        0x00100030: b"19700101", 0x00100040: b"M ",
        0x0020000D: root.encode(), 0x00080020: f"2020{(st % 12) + 1:02d}{(p % 28) + 1:02d}".encode(),
        0x00080030: b"101010", 0x00080050: f"ACC{p}{st}".encode(), 0x00081030: b"BENCH STUDY ",
        0x0020000E: f"{root}.{se}".encode(), 0x00200011: str(se).encode(), 0x00080060: b"CT",
        0x00080018: f"{root}.{se}.{im}".encode(), 0x00080016: b"1.2.840.10008.5.1.4.1.1.2\0",
        0x00200013: str(im).encode(), 0x00280010: (512).to_bytes(2, "little"),
        0x00280011: (512).to_bytes(2, "little"),
    }
    return IndexValues(raw, True)


def timed(fn, runs=50):
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    for driver in sys.argv[2:] or ["sqlite"]:
        print(f"--- {driver}")
        run(n, driver)


def run(n: int, driver: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from dbdrivers import ensure_database
    from dgate.config.ini import put_param
    folder = Path(tempfile.mkdtemp(prefix="benchdb"))
    create_default_config(folder)
    if driver == "dbase":
        from dgate.config.defaults import conf_dir
        (folder / "data" / "dbase").mkdir(parents=True, exist_ok=True)
        (folder / "dicom.sql").write_text((conf_dir() / "dicom.sql.dbase").read_text())
        put_param(folder / "dicom.ini", "SQLServer", f"{folder}/data/dbase/")
        put_param(folder / "dicom.ini", "SQLite", "0")
    else:
        for line in ensure_database(driver).splitlines():
            key, _, value = line.partition("=")
            put_param(folder / "dicom.ini", key.strip(), value.strip())
    db = open_database(Configuration.open(folder))
    db.initialize_tables(2, echo=lambda text: None)
    db.initialize_tables(0, echo=lambda text: None)
    patients = max(n // 1000, 1)
    start = time.perf_counter()
    count = 0
    for p in range(patients):
        for st in range(10):
            for se in range(10):
                for im in range(10):
                    db.add(values(p, st, se, im), f"PAT{p:05d}/{st}_{se}_{im}.dcm", "MAG0", just_add=True)
                    count += 1
    insert_s = time.perf_counter() - start
    print(f"instances indexed: {count} in {insert_s:.1f} s = {count / insert_s:.0f} instances/s")

    mid = patients // 2

    def q(level, **keys):
        ds = Dataset()
        for k, v in keys.items():
            setattr(ds, k, v)
        return lambda: db.find(level, ds)

    queries = {
        "study by PatientID": q("STUDY", PatientID=f"PAT{mid:05d}", StudyInstanceUID="", StudyDate=""),
        "study by name wildcard + date range": q("STUDY", PatientName=f"NAME{mid:05d}*",
                                                 StudyDate="20200101-20201231", StudyInstanceUID=""),
        "study by date (all patients that day)": q("STUDY", StudyDate="20200315", StudyInstanceUID="",
                                                   PatientID=""),
        "series of one study": q("SERIES", StudyInstanceUID=f"1.2.826.0.1.99.{mid}.3", SeriesInstanceUID="",
                                 Modality=""),
        "images of one series": q("IMAGE", SeriesInstanceUID=f"1.2.826.0.1.99.{mid}.3.4", SOPInstanceUID="",
                                  InstanceNumber=""),
        "image by SOP UID": q("IMAGE", SOPInstanceUID=f"1.2.826.0.1.99.{mid}.3.4.5", InstanceNumber=""),
    }
    for name, fn in queries.items():
        rows = len(fn())
        print(f"{name:40s} {timed(fn):8.2f} ms median ({rows} rows)")
    db.close()


if __name__ == "__main__":
    main()
