"""C-STORE ingest side by side: this dgate, the original dgate 1.5.0e (when its path is
given) and dcmtk storescp; peak memory for one large object; C-FIND latency during ingest.

Usage:
    python3 bench/bench_store.py [--n 1000] [--rounds 3] [--original PATH_TO_ORIGINAL_DGATE]
                                 [--big-mb 1024] [--skip-big] [--skip-find]

* For each round and for 1 and 4 parallel associations, fresh copies of pydicom's CT_small
  (new study/series/instance UIDs, same sizes) are sent with dcmtk storescu
  (TCP_NODELAY=1) to every target, the order of the targets rotating per round. Each
  target runs with its default configuration (ours: SQLite, workers = CPU count; the
  original and ours with ``-v``, output discarded; storescp writing files only).
  Medians of img/s and the ratios are printed.
* ``--big-mb``: peak RSS (VmHWM) of our worker while it receives one object of that size
  (and of the original, when given).
* C-FIND (study level, persistent association) latency idle and during a 4-association
  ingest.

The original is run from a folder of its own made with our default configuration (a
symbolic link to the binary there, so its BaseDir is that folder); nothing of it is
copied into this repository.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ENV = dict(os.environ, TCP_NODELAY="1", PYTHONPATH=str(REPO))
STORESCU = "/usr/bin/storescu"
STORESCP = "/usr/bin/storescp"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- test data ----------------------------------------------------------------------
class Copies:
    """CT_small copies with new UIDs, made by replacing the UID bytes (same lengths)."""

    def __init__(self) -> None:
        import pydicom
        from pydicom.data import get_testdata_file
        path = get_testdata_file("CT_small.dcm")
        self.data = Path(path).read_bytes()
        ds = pydicom.dcmread(path)
        self.uids = [str(ds.SOPInstanceUID).encode(), str(ds.StudyInstanceUID).encode(),
                     str(ds.SeriesInstanceUID).encode()]
        self.counter = 0

    def _uid(self, template: bytes, kind: int, n: int) -> bytes:
        """A new UID exactly as long as ``template`` (so no length field changes)."""
        stem = f"1.2.826.0.1.3680043.9.7778.{kind}.{n % 10**8}"
        if len(stem) + 2 > len(template):
            raise ValueError("UID template too short")
        return (stem + "." + "1" * (len(template) - len(stem) - 1)).encode()

    def make(self, folder: Path, n: int, groups: int) -> list[Path]:
        dirs = [folder / f"g{g}" for g in range(groups)]
        for d in dirs:
            d.mkdir(parents=True)
        self.counter += 1
        study = self._uid(self.uids[1], 2, self.counter)
        series = [self._uid(self.uids[2], 3, self.counter * 100 + s) for s in range(10)]
        for i in range(n):
            data = self.data.replace(self.uids[1], study).replace(self.uids[2], series[i % 10])
            data = data.replace(self.uids[0], self._uid(self.uids[0], 1, self.counter * 1000000 + i))
            (dirs[i % groups] / f"{i:05d}.dcm").write_bytes(data)
        return dirs


def send(port: int, dirs: list[Path]) -> float:
    start = time.perf_counter()
    procs = [subprocess.Popen([STORESCU, "-aec", "CONQUESTSRV1", "+sd", "127.0.0.1", str(port), str(d)],
                              env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for d in dirs]
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise RuntimeError(err.decode())
    return time.perf_counter() - start


# -- targets ------------------------------------------------------------------------
class Target:
    def __init__(self, name: str, folder: Path, command: list[str], port: int, cwd: Path):
        self.name, self.folder, self.port = name, folder, port
        self.proc = subprocess.Popen(command, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(port)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def ours(work: Path, extra: dict[str, str] | None = None) -> Target:
    from dgate.config.defaults import create_default_config
    from dgate.config.ini import put_param
    folder = work / "ours"
    folder.mkdir(parents=True, exist_ok=True)
    create_default_config(folder)
    for key, value in (extra or {}).items():
        put_param(folder / "dicom.ini", key, value)
    subprocess.run([sys.executable, "-m", "dgate", "-i"], cwd=folder, env=ENV, capture_output=True, check=True)
    port = free_port()
    return Target("dgate (ours)", folder, [sys.executable, "-m", "dgate", "-v", f"-p{port}"], port, folder)


def original(work: Path, binary: str) -> Target:
    from dgate.config.defaults import create_default_config
    folder = work / "original"
    folder.mkdir(parents=True, exist_ok=True)
    create_default_config(folder)
    link = folder / "dgate"
    if not link.exists():
        link.symlink_to(Path(binary).resolve())
    subprocess.run(["./dgate", "-v", "-r"], cwd=folder, env=ENV, capture_output=True, check=True)
    port = free_port()
    return Target("dgate 1.5.0e", folder, ["./dgate", "-v", f"-p{port}"], port, folder)


def storescp(work: Path) -> Target:
    folder = work / "storescp"
    folder.mkdir(exist_ok=True)
    port = free_port()
    return Target("storescp", folder, [STORESCP, "-od", str(folder), str(port)], port, folder)


# -- measurements ---------------------------------------------------------------------
def ingest(targets: list[Target], n: int, rounds: int, work: Path) -> dict[tuple[str, int], list[float]]:
    copies = Copies()
    results: dict[tuple[str, int], list[float]] = {}
    for r in range(rounds):
        order = targets[r % len(targets):] + targets[:r % len(targets)]
        if r % 2:
            order.reverse()
        for assocs in (1, 4):
            for target in order:
                folder = work / f"files_{r}_{assocs}"
                shutil.rmtree(folder, ignore_errors=True)
                dirs = copies.make(folder, n, assocs)
                seconds = send(target.port, dirs)
                results.setdefault((target.name, assocs), []).append(n / seconds)
                shutil.rmtree(folder, ignore_errors=True)
    return results


def big_object(path: Path, megabytes: int) -> None:
    import pydicom
    from pydicom.data import get_testdata_file
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    side = int((megabytes * 1024 * 1024 / 2) ** 0.5)
    ds.Rows = ds.Columns = side
    ds.PixelData = bytes(side * side * 2)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.9.7778.99.1"
    ds.save_as(path)


def peak_memory(work: Path, megabytes: int, binary: str | None) -> list[str]:
    path = work / "big.dcm"
    big_object(path, megabytes)
    size = path.stat().st_size / (1024 * 1024)
    lines = []
    (work / "mem").mkdir()
    target = ours(work / "mem", {"ServerWorkers": "1"})
    try:
        subprocess.run(["/usr/bin/echoscu", "127.0.0.1", str(target.port)], env=ENV, capture_output=True)
        (worker,) = children(target.proc.pid)
        before = vm_hwm_mb(worker)
        send(target.port, [path])
        peak = vm_hwm_mb(worker)
        lines.append(f"  ours: worker peak RSS {peak:.0f} MB for a {size:.0f} MB object "
                     f"({peak / size:.2f}x the object; {before:.0f} MB before)")
    finally:
        target.stop()
    if binary:
        orig = original(work / "mem", binary)
        try:
            send(orig.port, [path])
            peak = vm_hwm_mb(orig.proc.pid)
            lines.append(f"  original: peak RSS {peak:.0f} MB ({peak / size:.2f}x the object)")
        finally:
            orig.stop()
    return lines


def find_latency(work: Path, n: int) -> list[str]:
    from pydicom.dataset import Dataset
    from pynetdicom import AE
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND
    (work / "find").mkdir()
    target = ours(work / "find")
    copies = Copies()
    try:
        send(target.port, copies.make(work / "find_seed", 200, 1))
        ae = AE("BENCH")
        ae.add_requested_context(FIND)
        assoc = ae.associate("127.0.0.1", target.port)
        assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        q = Dataset()
        q.QueryRetrieveLevel = "STUDY"
        q.StudyInstanceUID = ""
        q.PatientID = "1CT1"
        q.NumberOfStudyRelatedInstances = ""

        def query() -> float:
            t = time.perf_counter()
            statuses = [s.Status for s, _ in assoc.send_c_find(q, FIND) if s]
            if statuses[-1] != 0:
                raise RuntimeError(f"C-FIND failed: {statuses[-1]:#x}")
            return time.perf_counter() - t
        idle = [query() for _ in range(30)]
        busy: list[float] = []
        done = threading.Event()
        dirs = copies.make(work / "find_load", n, 4)
        sender = threading.Thread(target=lambda: (send(target.port, dirs), done.set()))
        sender.start()
        while not done.is_set():
            busy.append(query())
            time.sleep(0.02)
        sender.join()
        assoc.release()
        busy.sort()
        return [f"  C-FIND (study, persistent association): idle {statistics.median(idle) * 1000:.1f} ms median; "
                f"during a 4-association ingest {statistics.median(busy) * 1000:.1f} ms median, "
                f"{busy[int(len(busy) * 0.95) - 1] * 1000:.1f} ms p95, {busy[-1] * 1000:.1f} ms max "
                f"({len(busy)} queries, all answered)"]
    finally:
        target.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--original", help="path of an original dgate 1.5.0e binary")
    parser.add_argument("--big-mb", type=int, default=1024)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-find", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="benchstore"))
    targets: list[Target] = []
    try:
        print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.uname().nodename}, {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f}")
        targets.append(ours(work))
        if args.original:
            targets.append(original(work, args.original))
        targets.append(storescp(work))
        results = ingest(targets, args.n, args.rounds, work)
        for target in targets:
            target.stop()
        targets = []
        print(f"C-STORE of {args.n} x CT_small (39 KB), storescu, median of {args.rounds} interleaved rounds:")
        names = sorted({name for name, _ in results}, key=lambda s: (not s.startswith("dgate (ours)"), s))
        for assocs in (1, 4):
            medians = {name: statistics.median(results[(name, assocs)]) for name in names}
            line = ", ".join(f"{name} {value:.0f} img/s" for name, value in medians.items())
            ratios = ", ".join(f"ours/{name} {medians['dgate (ours)'] / value:.2f}" for name, value in medians.items()
                               if name != "dgate (ours)")
            runs = "; ".join(f"{name}: " + " ".join(f"{v:.0f}" for v in results[(name, assocs)]) for name in names)
            print(f"  {assocs} association(s): {line}; {ratios}\n      runs: {runs}")
        if not args.skip_big:
            print("\n".join(peak_memory(work, args.big_mb, args.original)))
        if not args.skip_find:
            print("\n".join(find_latency(work, args.n)))
    finally:
        for target in targets:
            target.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
