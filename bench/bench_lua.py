"""Per-image cost of a Lua import converter, called the way the import step calls it.

``[lua] ImportConverter0`` reads 5 fields and sets 1; :meth:`AssociationLua.import_step`
runs it on N CT_small headers (as ingest would hand them over: a pydicom Dataset without
pixel data), interleaved with the same loop over a configuration without the converter,
in one run. Prints both and the difference per image (aim: < 0.3 ms).

    python3 bench/bench_lua.py [N] [rounds]
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pydicom  # noqa: E402
from pydicom.data import get_testdata_file  # noqa: E402

from dgate.config import Configuration  # noqa: E402
from dgate.config.defaults import create_default_config  # noqa: E402
from dgate.luabind import states  # noqa: E402
from dgate.luabind.context import LuaServices  # noqa: E402
from dgate.luabind.hooks import AssociationInfo, AssociationLua  # noqa: E402

SCRIPT = ("local a, b, c, d, e = Data.PatientID, Data.Modality, Data.StudyInstanceUID, Data.SeriesNumber, "
          "Data.InstanceNumber; Data.InstitutionName = 'BENCH ' .. b")


def folder(with_script: bool) -> Configuration:
    path = Path(tempfile.mkdtemp(prefix="bench_lua"))
    create_default_config(path)
    ini = path / "dicom.ini"
    text = ini.read_text()
    if with_script:
        text += f"\n[lua]\nImportConverter0 = {SCRIPT}\n"
    ini.write_text(text)
    return Configuration.open(path)


def run(config: Configuration, headers: list) -> float:
    states.configure(LuaServices(config=config))
    session = AssociationLua(AssociationInfo("BENCH", "CONQUESTSRV1"), config)
    session.import_step(headers[0])                 # state made, chunk compiled once
    start = time.perf_counter()
    for ds in headers:
        result = session.import_step(ds)
        assert result.rc == 1
    return (time.perf_counter() - start) / len(headers) * 1000.0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"), stop_before_pixels=True)
    with_lua, without = folder(True), folder(False)
    lua_ms, base_ms = [], []
    for _ in range(rounds):
        headers = [pydicom.Dataset(template) for _ in range(n)]
        base_ms.append(run(without, headers))
        headers = [pydicom.Dataset(template) for _ in range(n)]
        lua_ms.append(run(with_lua, headers))
        assert headers[-1].InstitutionName == "BENCH CT"
    lua, base = statistics.median(lua_ms), statistics.median(base_ms)
    print(f"{n} CT_small headers x {rounds} rounds (medians)")
    print(f"import step without [lua] ImportConverter0: {base:.4f} ms/image")
    print(f"import step with the 5-read/1-write script:  {lua:.4f} ms/image")
    print(f"cost of the script: {lua - base:.4f} ms/image (aim < 0.3)")


if __name__ == "__main__":
    main()
