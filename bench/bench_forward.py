"""Forwarding benchmark (issue 14): N images stored into a running dgate

* plain storage (no converters),
* with ``ImportConverter0 = forward to <storescp>`` (synchronous forward),
* with ``ExportConverter0 = forward to <storescp>`` (export queue),

measured side by side in one run: images/s on the way in (storescu → dgate) and seconds
until the last image has arrived at the destination storescp (from the start of the send).
With ``--original PATH`` the original dgate 1.5.0e runs each case too, from a folder with
the same configuration, right after ours, and the ratios ours/original are printed.

    python3 bench/bench_forward.py [--images 1000] [--original /path/to/dgate]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))


def make_images(folder: Path, n: int) -> list[Path]:
    import copy

    from pydicom import examples
    from pydicom.uid import generate_uid
    folder.mkdir(parents=True, exist_ok=True)
    base = examples.ct
    study, series = generate_uid(), generate_uid()
    paths = []
    for i in range(n):
        ds = copy.deepcopy(base)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        path = folder / f"{i:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _folder(name: str, params: dict[str, str], binary: str | None) -> Path:
    from netpeers import start_server

    from dgate.config.defaults import create_default_config
    from dgate.config.ini import put_param
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    if binary is None:
        start_server(work, start=False, **params)
        return work
    create_default_config(work)
    for key, value in params.items():
        put_param(work / "dicom.ini", key, value)
    (work / "dgate").symlink_to(Path(binary).resolve())
    subprocess.run(["./dgate", "-v", "-r"], cwd=work, capture_output=True, check=True)
    return work


def run_case(name: str, images: Path, count: int, params: dict[str, str], dest_dir: Path | None,
             binary: str | None = None) -> dict:
    from netpeers import DCMTK, DgateProcess, free_port, wait_for_port
    work = _folder(name, params, binary)
    env = dict(os.environ, TCP_NODELAY="1")
    if binary is None:
        server = DgateProcess(work)
        port, proc = server.port, server.proc
    else:
        port = free_port()
        proc = subprocess.Popen(["./dgate", "-v", f"-p{port}"], cwd=work, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        wait_for_port(port)
    try:
        started = time.monotonic()
        subprocess.run([str(DCMTK / "storescu"), "-aec", "CONQUESTSRV1", "+sd", "127.0.0.1", str(port),
                        str(images)], check=True, env=env, capture_output=True)
        stored = time.monotonic() - started
        arrived = None
        if dest_dir is not None:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if len(list(dest_dir.iterdir())) >= count:
                    arrived = time.monotonic() - started
                    break
                time.sleep(0.05)
        return {"case": name, "server": "original" if binary else "ours", "images_per_s": count / stored,
                "last_arrival_s": arrived}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    from netpeers import DCMTK, free_port
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--original", help="path of an original dgate 1.5.0e binary")
    args = parser.parse_args()
    binaries: list[str | None] = [None] + ([args.original] if args.original else [])
    tmp = Path(tempfile.mkdtemp(prefix="bench-forward-"))
    images = tmp / "images"
    make_images(images, args.images)
    results = [run_case("plain", images, args.images, {}, None, b) for b in binaries]
    for name, key in (("import-forward", "ImportConverter0"), ("export-forward", "ExportConverter0")):
        for binary in binaries:
            dest = tmp / f"dest-{name}-{'orig' if binary else 'ours'}"
            dest.mkdir()
            port = free_port()
            scp = subprocess.Popen([str(DCMTK / "storescp"), "-od", str(dest), "-uf", str(port)],
                                   env=dict(os.environ, TCP_NODELAY="1"), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            try:
                params = {key: f"forward to 127.0.0.1:{port}"}
                if key.startswith("Export"):
                    params["ExportConverters"] = "1"
                results.append(run_case(name, images, args.images, params, dest, binary))
            finally:
                scp.terminate()
                scp.wait(10)
    by = {(r["case"], r["server"]): r for r in results}
    for r in results:
        arrival = "-" if r["last_arrival_s"] is None else f"{r['last_arrival_s']:.2f} s"
        line = (f"{r['case']:<16} {r['server']:<9} {r['images_per_s']:8.1f} images/s in   "
                f"last image at destination: {arrival}")
        other = by.get((r["case"], "original"))
        if r["server"] == "ours" and other is not None:
            line += f"   ratio in {r['images_per_s'] / other['images_per_s']:.2f}"
            if r["last_arrival_s"] and other["last_arrival_s"]:
                line += f", arrival {other['last_arrival_s'] / r['last_arrival_s']:.2f} (original/ours time)"
        print(line)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
