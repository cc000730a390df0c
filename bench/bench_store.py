"""C-STORE ingest: dgate vs dcmtk storescp, side by side in one run; C-FIND latency.

Usage: python3 bench/bench_store.py [N=1000] [rounds=3]

For each round, N fresh copies of pydicom's CT_small (new SOP/series UIDs) are sent with
dcmtk storescu (TCP_NODELAY=1) over one association and over 4 parallel associations,
to dgate (SQLite, FileNameSyntax 4) and to dcmtk storescp (files only), interleaved.
Reports median images/s and the dgate/storescp ratio, then study-level C-FIND latency on
a persistent pynetdicom association and with a findscu process per query.
"""
from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pydicom  # noqa: E402
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

ENV = dict(os.environ, TCP_NODELAY="1", PYTHONPATH=str(REPO))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int) -> None:
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def make_files(folder: Path, n: int, groups: int) -> list[Path]:
    src = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    dirs = []
    for g in range(groups):
        d = folder / f"g{g}"
        d.mkdir(parents=True)
        dirs.append(d)
    study = generate_uid()
    series = [generate_uid() for _ in range(10)]
    for i in range(n):
        src.SOPInstanceUID = generate_uid()
        src.file_meta.MediaStorageSOPInstanceUID = src.SOPInstanceUID
        src.StudyInstanceUID = study
        src.SeriesInstanceUID = series[i % 10]
        src.InstanceNumber = i + 1
        src.save_as(dirs[i % groups] / f"{i:05d}.dcm")
    return dirs


def send(port: int, dirs: list[Path]) -> float:
    start = time.perf_counter()
    procs = [subprocess.Popen(["/usr/bin/storescu", "-aec", "CONQUESTSRV1", "+sd", "127.0.0.1", str(port), str(d)],
                              env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for d in dirs]
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise RuntimeError(err.decode())
    return time.perf_counter() - start


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    work = Path(tempfile.mkdtemp(prefix="benchstore"))
    server_dir = work / "dgate"
    server_dir.mkdir()
    subprocess.run([sys.executable, "-m", "dgate", "-i"], cwd=server_dir, env=ENV, capture_output=True, check=True)
    dport, sport = free_port(), free_port()
    dgate = subprocess.Popen([sys.executable, "-m", "dgate", f"-p{dport}"], cwd=server_dir, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scp_dir = work / "storescp"
    scp_dir.mkdir()
    scp = subprocess.Popen(["/usr/bin/storescp", "-od", str(scp_dir), str(sport)], env=ENV,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(dport)
    wait_port(sport)
    results: dict[str, list[float]] = {}
    try:
        for r in range(rounds):
            for assocs in (1, 4):
                for name, port in (("dgate", dport), ("storescp", sport)):
                    files = make_files(work / f"r{r}_{assocs}_{name}", n, assocs)
                    seconds = send(port, files)
                    results.setdefault(f"{name} {assocs} assoc", []).append(n / seconds)
                    shutil.rmtree(work / f"r{r}_{assocs}_{name}")
        print(f"C-STORE of {n} x CT_small (39 KB), median of {rounds} interleaved rounds:")
        for assocs in (1, 4):
            d = statistics.median(results[f"dgate {assocs} assoc"])
            s = statistics.median(results[f"storescp {assocs} assoc"])
            print(f"  {assocs} association(s): dgate {d:7.1f} img/s   storescp {s:7.1f} img/s   ratio {d / s:.2f}")

        from pydicom.dataset import Dataset
        from pynetdicom import AE
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND
        ae = AE("BENCH")
        ae.add_requested_context(FIND)
        assoc = ae.associate("127.0.0.1", dport)
        assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        q = Dataset()
        q.QueryRetrieveLevel = "STUDY"
        q.StudyInstanceUID = ""
        q.PatientID = "1CT1"
        q.StudyDate = ""
        q.NumberOfStudyRelatedInstances = ""
        samples = []
        for _ in range(30):
            t = time.perf_counter()
            list(assoc.send_c_find(q, FIND))
            samples.append(time.perf_counter() - t)
        assoc.release()
        print(f"  study-level C-FIND on a persistent association: {statistics.median(samples) * 1000:.1f} ms median")
        samples = []
        for _ in range(10):
            t = time.perf_counter()
            subprocess.run(["/usr/bin/findscu", "-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=1CT1",
                            "-k", "StudyInstanceUID", "127.0.0.1", str(dport)], env=ENV, capture_output=True)
            samples.append(time.perf_counter() - t)
        print(f"  study-level C-FIND with a findscu process:      {statistics.median(samples) * 1000:.1f} ms median")
    finally:
        dgate.terminate()
        scp.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
