"""Archival checks (conquest-protocol.md §2 ``-av``/``-ac``): VerifyMirrorDisk and
CompareBunchAfterBurning compare every object of a device byte for byte."""
from __future__ import annotations

import shutil

from convhelpers import ct, folder, mr

from dgate.db import open_database
from dgate.store.archive import Archiver
from dgate.store.formats import Encoded
from dgate.store.ingest import Ingest


def test_verify_mirror_and_compare_bunch_find_a_changed_and_a_missing_file(tmp_path):
    mirror, cache, juke = tmp_path / "mirror", tmp_path / "cache", tmp_path / "juke"
    config, logs, sink = folder(tmp_path / "srv", MIRRORDevices="1", MIRRORDevice0=f"{mirror}/",
                                CACHEDevices="1", CACHEDevice0=f"{cache}/c_%d_%04d",
                                JUKEBOXDevices="1", JUKEBOXDevice0=f"{juke}/cd%04d")
    db = open_database(config, logs)
    try:
        stored = [Ingest(config, logs).store(Encoded.from_dataset(ds, str(ds.file_meta.TransferSyntaxUID)), db)
                  for ds in (ct(), mr())]
        mag0 = stored[0].path.parents[len(stored[0].relative.replace("\\", "/").split("/")) - 1]
        shutil.rmtree(mirror, ignore_errors=True)
        shutil.copytree(mag0, mirror)
        arch = Archiver(db, config.settings, logs)
        assert arch.verify_mirror("MAG0")
        first, second = (mirror / item.relative.replace("\\", "/") for item in stored)
        data = bytearray(first.read_bytes())
        data[-1] ^= 0xFF
        first.write_bytes(bytes(data))
        second.unlink()
        assert not arch.verify_mirror("MAG0")
        assert sink.text().count("*** mirror file differs or is missing:") == 2
        assert "mirror verify of MAG0: 2 error(s)" in sink.text()

        assert arch.select_lru("MAG0", 0) and arch.prepare_bunch("JUKEBOX0.7", "MAG0")
        shutil.copytree(cache / "c_0_0007", juke / "cd0007")          # "burning"
        assert arch.compare_bunch("JUKEBOX0.7")
        (juke / "cd0007" / stored[1].relative.replace("\\", "/")).unlink()
        assert not arch.compare_bunch("JUKEBOX0.7")
        assert "compare of JUKEBOX0.7: 1 error(s)" in sink.text()
    finally:
        db.close()
