"""Where C-STORE time goes: the ingest pipeline alone, profiled (no network).

Usage: python3 bench/profile_ingest.py [N=500]

Stores N CT_small copies through dgate.store.ingest.Ingest (header parse, file name,
index, file write) and prints the per-image cost and the top functions by own time.
Compare with the img/s of bench_store.py to see the share of pynetdicom's DIMSE/PDU work.
"""
from __future__ import annotations

import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pydicom  # noqa: E402
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

from dgate.config import Configuration  # noqa: E402
from dgate.config.cached import use_cached_settings  # noqa: E402
from dgate.config.defaults import create_default_config  # noqa: E402
from dgate.db import open_database  # noqa: E402
from dgate.log import logs  # noqa: E402
from dgate.store.formats import Encoded, read_file  # noqa: E402
from dgate.store.ingest import Ingest  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    folder = Path(tempfile.mkdtemp(prefix="profingest"))
    create_default_config(folder)
    config = Configuration.open(folder)
    use_cached_settings(config)
    db = open_database(config)
    db.initialize_tables(0, echo=lambda text: None)
    ingest = Ingest(config, logs)
    base = read_file(get_testdata_file("CT_small.dcm"))
    src = base.dataset()
    objects = []
    for i in range(n):
        src.SOPInstanceUID = generate_uid()
        src.InstanceNumber = i + 1
        objects.append(Encoded.from_dataset(src, base.transfer_syntax))
    half = n // 2
    start = time.perf_counter()
    for obj in objects[:half]:
        ingest.store(obj, db)
    seconds = time.perf_counter() - start
    print(f"ingest pipeline alone: {seconds / half * 1000:.3f} ms per image ({half / seconds:.0f} img/s)")
    profile = cProfile.Profile()
    profile.enable()
    for obj in objects[half:]:
        ingest.store(obj, db)
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(12)
    print("\n".join(out.getvalue().splitlines()[:30]))


if __name__ == "__main__":
    main()
