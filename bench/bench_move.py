"""C-MOVE out of the archive side by side: this dgate vs Orthanc (Debian), same objects,
same dcmtk storescp destination, one run; and peak memory storing + retrieving one large
multi-frame object with IncomingCompression ``j2`` and ``un``.

Usage:
    python3 bench/bench_move.py [--n 1000] [--rounds 3] [--big-mb 1024] [--skip-big] [--skip-move]

* ``--n`` CT_small copies (one study) are stored in each server with dcmtk storescu, then the
  study is C-MOVEd ``--rounds`` times to a storescp (``--ignore``: received, not written, so
  the destination is not the bottleneck), servers alternating. Ours is measured with
  acrnema.map column ``un`` (sent as Implicit VR LE, the original's choice: a lean rewrite of
  the stored Explicit VR LE) and ``as`` (streamed as stored); Orthanc sends as stored.
* ``--big-mb``: a multi-frame 16-bit object of that size (512x512 frames of smooth data with
  noise) is stored with IncomingCompression ``j2`` (and ``un``) and C-MOVEd to a ``un``
  destination (decompressed on the way for ``j2``); the peak RSS (VmHWM) of our one worker is
  reported with its ratio to the object size.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_store import ENV, STORESCP, Copies, Target, children, free_port, ours, send, vm_hwm_mb  # noqa: E402

MOVESCU = "/usr/bin/movescu"
ORTHANC = "/usr/sbin/Orthanc"


def storescp(folder: Path, ae: str = "STORESCP") -> Target:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    return Target("storescp", folder, [STORESCP, "--ignore", "-aet", ae, "+xa", str(port)], port, folder)


def amap_row(folder: Path, ae: str, port: int, code: str) -> None:
    amap = folder / "acrnema.map"
    amap.write_text(amap.read_text().replace("CONQUESTSRV1", f"{ae:<17} 127.0.0.1 {port:<10} {code}\nCONQUESTSRV1", 1))


def move(port: int, called: str, destination: str, study: str, expect: int | None = None) -> float:
    start = time.perf_counter()
    r = subprocess.run([MOVESCU, "-d", "-S", "-aec", called, "-aem", destination, "-k", "QueryRetrieveLevel=STUDY",
                        "-k", f"StudyInstanceUID={study}", "127.0.0.1", str(port)], env=ENV, capture_output=True,
                       text=True)
    seconds = time.perf_counter() - start
    if r.returncode:
        raise RuntimeError(r.stderr[-2000:])
    import re
    done = [int(v) for v in re.findall(r"Completed(?: Suboperations)?\s*:\s*(\d+)", r.stdout + r.stderr)]
    if expect is not None and max(done, default=0) != expect:      # Orthanc's final response has no counts
        raise RuntimeError(f"C-MOVE from port {port} to {destination}: completed {max(done, default=0)} of {expect}:\n"
                           + (r.stdout + r.stderr)[-1500:])
    return seconds


class Orthanc(Target):
    def __init__(self, folder: Path, destination_port: int):
        folder.mkdir(parents=True, exist_ok=True)
        port, http = free_port(), free_port()
        cfg = {"Name": "bench", "HttpPort": http, "DicomPort": port, "DicomAet": "ORTHANC",
               "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "HttpBindAddress": "127.0.0.1",
               "StorageDirectory": str(folder / "s"), "IndexDirectory": str(folder / "i"),
               "DicomModalities": {"STORESCP": ["STORESCP", "127.0.0.1", destination_port],
                                   "MOVESCU": ["MOVESCU", "127.0.0.1", free_port()]},
               "DicomAlwaysAllowMove": True, "SynchronousCMove": True,
               "DicomCheckCalledAet": False, "StorageCompression": False}
        (folder / "orthanc.json").write_text(json.dumps(cfg))
        super().__init__("Orthanc", folder, [ORTHANC, str(folder / "orthanc.json")], port, folder)


def study_of(folder: Path) -> str:
    import pydicom
    first = next(folder.rglob("*.dcm"))
    return str(pydicom.dcmread(first, stop_before_pixels=True).StudyInstanceUID)


def bench_move(work: Path, n: int, rounds: int) -> list[str]:
    files = work / "files"
    dirs = Copies().make(files, n, 1)
    study = study_of(files)
    scp = storescp(work / "scp")
    targets = []
    try:
        mine = ours(work / "move", {})
        targets.append(mine)
        amap_row(mine.folder, "STORESCP", scp.port, "un")
        amap_row(mine.folder, "ASSCP", scp.port, "as")
        orthanc = Orthanc(work / "orthanc", scp.port)
        targets.append(orthanc)
        time.sleep(1.0)                       # let both servers settle
        for t in targets:
            send(t.port, dirs)
        results: dict[str, list[float]] = {}
        runs = [("dgate (un: implicit)", mine.port, "CONQUESTSRV1", "STORESCP"),
                ("dgate (as: as stored)", mine.port, "CONQUESTSRV1", "ASSCP"),
                ("Orthanc (as stored)", orthanc.port, "ORTHANC", "STORESCP")]
        for r in range(rounds):
            order = runs if r % 2 == 0 else list(reversed(runs))
            for name, port, called, dest in order:
                results.setdefault(name, []).append(n / move(port, called, dest, study, n))
    finally:
        for t in targets:
            t.stop()
        scp.stop()
    lines = [f"C-MOVE of {n} CT_small (one study) to storescp, img/s, median of {rounds} (runs):"]
    peer = statistics.median(results["Orthanc (as stored)"])
    for name, values in results.items():
        med = statistics.median(values)
        lines.append(f"  {name:24s} {med:7.0f}  ({' '.join(f'{v:.0f}' for v in values)})  ratio to Orthanc "
                     f"{med / peer:.2f}")
    return lines


def big_multiframe(path: Path, megabytes: int) -> None:
    import numpy as np
    import pydicom
    from pydicom.data import get_testdata_file
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    frames = max(1, megabytes * 1024 * 1024 // (512 * 512 * 2))
    rng = np.random.default_rng(7)
    base = (np.add.outer(np.arange(512), np.arange(512)) % 2048).astype(np.int16)
    pixels = np.empty((frames, 512, 512), np.int16)
    for f in range(frames):
        pixels[f] = base + (f % 64) + rng.integers(0, 8, (512, 512), dtype=np.int16)
    ds.Rows = ds.Columns = 512
    ds.NumberOfFrames = frames
    ds.BitsStored, ds.HighBit = 12, 11
    ds.PixelData = pixels.tobytes()
    del pixels
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.9.7778.98.1"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.9.7778.98.2"
    ds.save_as(path, enforce_file_format=True)


def bench_memory(work: Path, megabytes: int) -> list[str]:
    path = work / "big.dcm"
    big_multiframe(path, megabytes)
    size = path.stat().st_size / (1024 * 1024)
    lines = [f"Peak RSS of our worker storing then C-MOVEing one {size:.0f} MB multi-frame object:"]
    for code in ("j2", "un"):
        scp = storescp(work / f"bigscp_{code}", "BIGSCP")
        target = ours(work / f"mem_{code}", {"ServerWorkers": "1", "IncomingCompression": code})
        try:
            amap_row(target.folder, "BIGSCP", scp.port, "un")
            target.stop()
            target = Target(target.name, target.folder, target.proc.args, target.port, target.folder)
            subprocess.run(["/usr/bin/echoscu", "127.0.0.1", str(target.port)], env=ENV, capture_output=True)
            (worker,) = children(target.proc.pid)
            before = vm_hwm_mb(worker)
            t0 = time.perf_counter()
            send(target.port, [path])
            stored_peak, t1 = vm_hwm_mb(worker), time.perf_counter()
            stored = [p for p in (target.folder / "data").rglob("*.dcm")]
            stored_mb = sum(p.stat().st_size for p in stored) / (1024 * 1024)
            move(target.port, "CONQUESTSRV1", "BIGSCP", "1.2.826.0.1.3680043.9.7778.98.2", 1)
            peak, t2 = vm_hwm_mb(worker), time.perf_counter()
            lines.append(f"  IncomingCompression {code}: stored {stored_mb:.0f} MB in {t1 - t0:.1f} s, peak "
                         f"{stored_peak:.0f} MB ({stored_peak / size:.2f}x); after C-MOVE to a un destination "
                         f"({t2 - t1:.1f} s) peak {peak:.0f} MB ({peak / size:.2f}x the object; {before:.0f} MB "
                         "before)")
        finally:
            target.stop()
            scp.stop()
            shutil.rmtree(work / f"mem_{code}", ignore_errors=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=1024)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-move", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_move_") as tmp:
        work = Path(tmp)
        if not args.skip_move:
            if not Path(ORTHANC).exists():
                sys.exit("needs Debian's orthanc")
            print("\n".join(bench_move(work, args.n, args.rounds)), flush=True)
        if not args.skip_big:
            print("\n".join(bench_memory(work, args.big_mb)), flush=True)


if __name__ == "__main__":
    main()
