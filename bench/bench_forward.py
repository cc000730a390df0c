"""Forwarding benchmark (issue 14): N images stored into a running dgate

* plain storage (no converters),
* with ``ImportConverter0 = forward to <storescp>`` (synchronous forward),
* with ``ExportConverter0 = forward to <storescp>`` (export queue),

measured side by side in one run: images/s on the way in (storescu → dgate) and seconds
until the last image has arrived at the destination storescp. Needs the server wiring
of the converters (ingest → import converters, after-store → export queue); until it is
there the forward runs report that nothing arrived.

    python3 bench/bench_forward.py [--images 1000]
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


def run_case(name: str, images: Path, count: int, params: dict[str, str], dest_dir: Path | None) -> dict:
    from netpeers import DCMTK, DgateProcess, start_server
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    start_server(work, start=False, **params)
    server = DgateProcess(work)
    env = dict(os.environ, TCP_NODELAY="1")
    try:
        started = time.monotonic()
        subprocess.run([str(DCMTK / "storescu"), "-aec", "CONQUESTSRV1", "+sd", "127.0.0.1", str(server.port),
                        str(images)], check=True, env=env, capture_output=True)
        stored = time.monotonic() - started
        arrived = None
        if dest_dir is not None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if len(list(dest_dir.iterdir())) >= count:
                    arrived = time.monotonic() - started
                    break
                time.sleep(0.05)
        return {"case": name, "images_per_s": count / stored, "last_arrival_s": arrived}
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    from netpeers import DCMTK, free_port
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-forward-"))
    images = tmp / "images"
    make_images(images, args.images)
    results = [run_case("plain", images, args.images, {}, None)]
    for name, key in (("import-forward", "ImportConverter0"), ("export-forward", "ExportConverter0")):
        dest = tmp / f"dest-{name}"
        dest.mkdir()
        port = free_port()
        scp = subprocess.Popen([str(DCMTK / "storescp"), "-od", str(dest), "-uf", str(port)],
                               env=dict(os.environ, TCP_NODELAY="1"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            params = {key: f"forward to 127.0.0.1:{port}"}
            if key.startswith("Export"):
                params["ExportConverters"] = "1"
            results.append(run_case(name, images, args.images, params, dest))
        finally:
            scp.terminate()
            scp.wait(10)
    for r in results:
        arrival = "-" if r["last_arrival_s"] is None else f"{r['last_arrival_s']:.2f} s"
        print(f"{r['case']:<16} {r['images_per_s']:8.1f} images/s in   last image at destination: {arrival}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
