"""Cost of Lua in the store path.

1. Import step (default): ``[lua] ImportConverter0`` reads 5 fields and sets 1; the converter
   engine (:meth:`dgate.convert.Converters.run_import`) runs it on N CT_small headers in an
   association's Lua state, as ingest hands them over (a Dataset without pixel data),
   interleaved with the same loop on a configuration without the converter. Prints both and
   the difference per image (aim: < 0.3 ms).
2. ``--ingest``: the whole store pipeline in process (``Ingest.store`` into SQLite and a data
   folder, one Lua state kept as an association keeps it), N CT_small objects (new UIDs) with
   the ``[lua] ImportConverter0`` script of 1 and without, rounds interleaved; prints both
   and the cost of the script per image (aim: < 0.3 ms).
3. ``--server``: end to end, a running dgate (default configuration, hub + workers) receives
   N CT_small copies (new UIDs) from dcmtk storescu over one association, for three
   configurations in rotating order: no ``[lua]`` keys; ``[lua] association``, ``command``
   and ``endassociation`` hooks (a counter each; ``command`` runs for every C-STORE); the
   ``[lua] ImportConverter0`` script of 1 (it only runs where the import converters are
   wired into ingest; the output says whether it ran). Prints img/s and the server's CPU time per
   image (hub and workers, from /proc), and the script's cost as the CPU difference per round.

    python3 bench/bench_lua.py [N] [rounds]
    python3 bench/bench_lua.py --ingest [N] [rounds]
    python3 bench/bench_lua.py --server [N] [rounds]
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pydicom  # noqa: E402
from pydicom.data import get_testdata_file  # noqa: E402

from dgate.config import Configuration  # noqa: E402
from dgate.config.defaults import create_default_config  # noqa: E402
from dgate.luabind import states  # noqa: E402
from dgate.luabind.context import LuaServices  # noqa: E402
from dgate.luabind.hooks import AssociationInfo, AssociationLua  # noqa: E402

SCRIPT = ("local a, b, c, d, e = Data.PatientID, Data.Modality, Data.StudyInstanceUID, Data.SeriesNumber, "
          "Data.InstanceNumber; Data.InstitutionName = 'BENCH ' .. b")
HOOKS = {"association": "n_assoc = (n_assoc or 0) + 1", "command": "n_cmd = (n_cmd or 0) + 1",
         "endassociation": "n_end = (n_end or 0) + 1"}


def lua_keys(path: Path, keys: dict[str, str]) -> None:
    """Replace the default [lua] keys of ``path``/dicom.ini with ``keys`` (first one wins)."""
    ini = path / "dicom.ini"
    names = {k.lower() for k in keys}
    kept = [line for line in ini.read_text().splitlines() if line.split("=", 1)[0].strip().lower() not in names]
    ini.write_text("\n".join(kept) + "\n[lua]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))


def folder(with_script: bool) -> Configuration:
    path = Path(tempfile.mkdtemp(prefix="bench_lua"))
    create_default_config(path)
    if with_script:
        lua_keys(path, {"ImportConverter0": SCRIPT})
    return Configuration.open(path)


def run(config: Configuration, headers: list) -> float:
    from dgate.convert import ConvertContext, Converters
    states.configure(LuaServices(config=config))
    session = AssociationLua(AssociationInfo("BENCH", "CONQUESTSRV1"), config)
    converters = Converters(config)

    def step(ds) -> None:
        ctx = ConvertContext(config, calling="BENCH", called="CONQUESTSRV1", family="Import",
                             lua_state=session.state)
        verdict = converters.run_import(ds, ctx)
        assert verdict.rc in (0, 1)

    step(headers[0])                                # state made, chunk compiled once
    start = time.perf_counter()
    for ds in headers:
        step(ds)
    return (time.perf_counter() - start) / len(headers) * 1000.0


def import_step(n: int, rounds: int) -> None:
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


# -- the store pipeline in process --------------------------------------------------------------
def ingest_round(with_script: bool, objects: list) -> float:
    """ms per object of ``Ingest.store`` for ``objects`` into a fresh folder."""
    import types

    import dgate.hub.plugins  # noqa: F401  (the converter import step, as the server loads it)
    from dgate.convert import plugin
    from dgate.db import open_database
    from dgate.log import logs
    from dgate.store.ingest import Ingest, IngestContext
    config = folder(with_script)
    db = open_database(config)
    db.initialize_tables(0, echo=lambda text: None)
    plugin.sync(config)
    states.configure(LuaServices(config=config))
    # what the import step reads of an association: its server, its extra (where the Lua
    # state is kept between objects), its number and its database
    server = types.SimpleNamespace(config=config, port=5678, ae_title="CONQUESTSRV1")
    session = types.SimpleNamespace(server=server, extra={}, number=1, database=lambda: db)
    ingest = Ingest(config, logs)

    def one(obj) -> None:
        ctx = IngestContext("BENCH", "CONQUESTSRV1", None)
        ctx.association = session
        ingest.store(obj, db, ctx=ctx)

    try:
        one(objects[0])                              # state made, chunk compiled once
        start = time.perf_counter()
        for obj in objects[1:]:
            one(obj)
        return (time.perf_counter() - start) / (len(objects) - 1) * 1000.0
    finally:
        plugin.IMPORT_STEPS.unregister("convert.import")
        db.close()
        shutil.rmtree(config.base_dir, ignore_errors=True)


def ingest(n: int, rounds: int) -> None:
    from pydicom.uid import generate_uid

    from dgate.store.formats import Encoded, read_file
    base = read_file(get_testdata_file("CT_small.dcm"))
    src = base.dataset()
    objects = []
    for _ in range(n + 1):
        src.SOPInstanceUID = generate_uid()
        objects.append(Encoded.from_dataset(src, base.transfer_syntax))
    lua_ms, base_ms = [], []
    for r in range(rounds):
        for with_script in ((False, True) if r % 2 == 0 else (True, False)):
            (lua_ms if with_script else base_ms).append(ingest_round(with_script, objects))
    lua, plain = statistics.median(lua_ms), statistics.median(base_ms)
    print(f"Ingest.store of {n} CT_small objects x {rounds} rounds (medians, ms/image)")
    print(f"without [lua] ImportConverter0:      {plain:.4f}  ({' '.join(f'{v:.3f}' for v in base_ms)})")
    print(f"with the 5-read/1-write script:      {lua:.4f}  ({' '.join(f'{v:.3f}' for v in lua_ms)})")
    print(f"cost of the script: {lua - plain:.4f} ms/image (aim < 0.3)")


# -- end to end ------------------------------------------------------------------------------
def copies(n: int, target: Path) -> list[Path]:
    from pydicom.uid import generate_uid
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    study, series = generate_uid(), generate_uid()
    files = []
    for i in range(n):
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = target / f"ct{i:05d}.dcm"
        ds.save_as(path)
        files.append(path)
    return files


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` and its live children (the hub's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):      # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def server_round(kind: str, files: list[Path]) -> tuple[float, float, bool]:
    """img/s of one storescu run into a fresh dgate, the server's CPU ms per image (hub and
    workers; far less noisy than wall time on a shared machine), whether the import script ran."""
    from dgate.config.defaults import create_default_config
    sys.path.insert(0, str(REPO / "tests"))
    from netpeers import free_port, wait_for_port
    path = Path(tempfile.mkdtemp(prefix=f"bench_lua_{kind}"))
    try:
        create_default_config(path)
        if kind == "hooks":
            lua_keys(path, HOOKS)
        elif kind == "import":
            lua_keys(path, {"ImportConverter0": SCRIPT})
        env = dict(os.environ, TCP_NODELAY="1", PYTHONPATH=str(REPO))
        subprocess.run([sys.executable, "-m", "dgate", "-i"], cwd=path, env=env, capture_output=True, check=True)
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "dgate", f"-p{port}"], cwd=path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port, 30)
            time.sleep(1.0)                                  # workers started and idle
            cpu, start = cpu_seconds(proc.pid), time.perf_counter()
            subprocess.run(["/usr/bin/storescu", "-aec", "CONQUESTSRV1", "127.0.0.1", str(port),
                            *map(str, files)], env=env, check=True, capture_output=True)
            rate = len(files) / (time.perf_counter() - start)
            cpu_ms = (cpu_seconds(proc.pid) - cpu) / len(files) * 1000.0
        finally:
            proc.terminate()
            proc.wait(20)
        stored = next((path / "data").rglob("*.dcm"), None)
        ran = stored is not None and \
            str(pydicom.dcmread(stored, stop_before_pixels=True).get("InstitutionName", "")) == "BENCH CT"
        return rate, cpu_ms, ran
    finally:
        shutil.rmtree(path, ignore_errors=True)


def end_to_end(n: int, rounds: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench_lua_files"))
    try:
        files = copies(n, work)
        kinds = ["none", "hooks", "import"]
        rates: dict[str, list[float]] = {k: [] for k in kinds}
        cpus: dict[str, list[float]] = {k: [] for k in kinds}
        ran = False
        for r in range(rounds):
            for kind in kinds[r % 3:] + kinds[:r % 3]:
                rate, cpu_ms, script_ran = server_round(kind, files)
                rates[kind].append(rate)
                cpus[kind].append(cpu_ms)
                ran = ran or (kind == "import" and script_ran)
        print(f"{n} CT_small C-STOREs over one association (dcmtk storescu) x {rounds} rounds, medians")
        print(f"  {'':45s} {'img/s':>8s} {'server CPU ms/img':>18s}")
        for kind, label in (("none", "no [lua] keys"), ("hooks", "[lua] association/command/endassociation"),
                            ("import", "[lua] ImportConverter0 (5 reads, 1 write)")):
            print(f"  {label:45s} {statistics.median(rates[kind]):8.1f} {statistics.median(cpus[kind]):18.3f}"
                  f"   ({' '.join(f'{v:.3f}' for v in cpus[kind])})")
        pairs = [i - o for i, o in zip(cpus["import"], cpus["none"])]
        print(f"  cost of the import script, server CPU per image (round by round): "
              f"{statistics.median(pairs):.3f} ms ({' '.join(f'{v:.3f}' for v in pairs)}; aim < 0.3)")
        print(f"  ImportConverter0 ran in the server: {'yes' if ran else 'no (import converters not wired here)'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 1000
    rounds = int(args[1]) if len(args) > 1 else (3 if "--server" in sys.argv else 5)
    if "--server" in sys.argv:
        end_to_end(n, rounds)
    elif "--ingest" in sys.argv:
        ingest(n, rounds)
    else:
        import_step(n, rounds)


if __name__ == "__main__":
    main()
