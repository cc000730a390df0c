"""DICOMweb: dgate's web server vs Orthanc + its DICOMweb plugin, same data, one run.

Usage: python3 bench/bench_web.py [studies=10000] [series_size=600] [stow=1000] [--standalone]

* QIDO ``/studies`` latency with ``studies`` studies in both (median of 20; the whole
  list, ``limit=100``, and one PatientID), after loading the same tiny objects into both;
* WADO-RS of one ``series_size``-instance series of CT_small copies (MB/s, median of 3);
* ``/metadata`` of that series cold (first request after a server start) and warm (median
  of 5);
* STOW-RS of ``stow`` CT_small copies in requests of 100 instances (instances/s).

dgate runs as the integrated server, ``dgate -v`` with ``WebPort`` set (its hub task
``web-server`` serves HTTP next to DICOM; SQLite, default dicom.ini), or with
``--standalone`` as ``python3 -m dgate.web`` on its own;
Orthanc from Debian with the plugin, both on loopback. Needs ``orthanc`` and
``orthanc-dicomweb``.
"""
from __future__ import annotations

import io
import json
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
import requests  # noqa: E402
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402

ENV = dict(os.environ, TCP_NODELAY="1", PYTHONPATH=str(REPO))
ORTHANC = "/usr/sbin/Orthanc"
PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


def tiny(i: int) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName = f"P{i:06d}", f"Bench^Patient{i}"
    ds.StudyDate, ds.StudyTime, ds.Modality, ds.AccessionNumber = "20240101", "120000", "OT", f"A{i}"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def ct_series(n: int, study: str | None = None, series: str | None = None) -> list[bytes]:
    src = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    study, series = study or generate_uid(), series or generate_uid()
    out = []
    for i in range(n):
        src.StudyInstanceUID, src.SeriesInstanceUID = study, series
        src.SOPInstanceUID = src.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        src.InstanceNumber = i + 1
        buf = io.BytesIO()
        src.save_as(buf, enforce_file_format=True)
        out.append(buf.getvalue())
    return out


def stow(base: str, files: list[bytes], batch: int = 100) -> float:
    start = time.perf_counter()
    for i in range(0, len(files), batch):
        boundary = "benchb0undary"
        body = b"".join(b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + f + b"\r\n"
                        for f in files[i:i + batch]) + b"--" + boundary.encode() + b"--\r\n"
        r = requests.post(base + "/studies", data=body, headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": "application/dicom+json"}, timeout=600)
        if r.status_code != 200:
            raise RuntimeError(f"STOW to {base}: {r.status_code} {r.text[:300]}")
    return time.perf_counter() - start


class Ours:
    name = "dgate"

    def __init__(self, folder: Path, integrated: bool = True):
        self.folder = folder
        self.integrated = integrated
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "dgate", "-i"], cwd=folder, env=ENV, capture_output=True, check=True)
        self.port = free_port()
        self.dicom_port = free_port()
        if integrated:
            from dgate.config.ini import put_param
            put_param(folder / "dicom.ini", "WebPort", str(self.port))
        self.proc = None
        self.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/dicom-web"

    def start(self) -> None:
        if self.integrated:
            args = [sys.executable, "-m", "dgate", "-v", f"-p{self.dicom_port}"]
        else:
            args = [sys.executable, "-m", "dgate.web", "-w", str(self.folder), "--port", str(self.port)]
        self.proc = subprocess.Popen(args, cwd=self.folder, env=ENV, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_http(self.base + "/")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)

    def restart(self) -> None:
        self.stop()
        self.start()


class Orthanc:
    name = "Orthanc"

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = free_port()
        cfg = {"Name": "bench", "HttpPort": self.port, "DicomPort": free_port(), "RemoteAccessAllowed": False,
               "AuthenticationEnabled": False, "StorageDirectory": str(folder / "s"),
               "IndexDirectory": str(folder / "i"),
               "Plugins": [PLUGIN], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}, "LimitFindResults": 0,
               "LimitFindInstances": 0, "HttpBindAddress": "127.0.0.1"}
        (folder / "orthanc.json").write_text(json.dumps(cfg))
        self.proc = None
        self.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/dicom-web"

    def start(self) -> None:
        self.proc = subprocess.Popen([ORTHANC, str(self.folder / "orthanc.json")], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env=ENV)
        wait_http(f"http://127.0.0.1:{self.port}/system")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)

    def restart(self) -> None:
        self.stop()
        self.start()


def median_time(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def get(url: str, **headers) -> requests.Response:
    r = requests.get(url, headers=headers, timeout=600)
    if r.status_code != 200:
        raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")
    return r


def main() -> None:
    standalone = "--standalone" in sys.argv
    argv = [a for a in sys.argv if a != "--standalone"]
    n_studies = int(argv[1]) if len(argv) > 1 else 10000
    series_size = int(argv[2]) if len(argv) > 2 else 600
    n_stow = int(argv[3]) if len(argv) > 3 else 1000
    if not (Path(ORTHANC).is_file() and Path(PLUGIN).is_file()):
        sys.exit("needs Debian's orthanc and orthanc-dicomweb")
    work = Path(tempfile.mkdtemp(prefix="bench_web_"))
    servers = [Ours(work / "dgate", integrated=not standalone), Orthanc(work / "orthanc")]
    print("dgate:", "python3 -m dgate.web (standalone)" if standalone else "dgate -v with WebPort (integrated)")
    results: dict[str, dict[str, float]] = {s.name: {} for s in servers}
    try:
        stow_files = ct_series(n_stow)
        for s in servers:                                    # STOW first, into empty archives
            results[s.name]["stow inst/s"] = n_stow / stow(s.base, stow_files)
        small = [tiny(i) for i in range(n_studies)]
        for s in servers:
            stow(s.base, small, 500)
        big = ct_series(series_size)
        ds = pydicom.dcmread(io.BytesIO(big[0]), stop_before_pixels=True)
        st, se = ds.StudyInstanceUID, ds.SeriesInstanceUID
        for s in servers:
            stow(s.base, big, 100)
        for s in servers:
            get(s.base + "/studies?limit=1")
            count = len(get(s.base + "/studies").json())
            results[s.name]["studies"] = count
            results[s.name]["QIDO all ms"] = 1000 * median_time(lambda: get(s.base + "/studies"), 20)
            results[s.name]["QIDO limit=100 ms"] = 1000 * median_time(lambda: get(s.base + "/studies?limit=100"), 20)
            results[s.name]["QIDO PatientID ms"] = 1000 * median_time(
                lambda: get(s.base + "/studies?PatientID=P000123"), 20)
        for s in servers:
            s.restart()
            url = f"{s.base}/studies/{st}/series/{se}/metadata"
            t = time.perf_counter()
            got = get(url).json()
            results[s.name]["metadata cold s"] = time.perf_counter() - t
            assert len(got) == series_size, (s.name, len(got))
            results[s.name]["metadata warm s"] = median_time(lambda: get(url), 5)
        for s in servers:
            url = f"{s.base}/studies/{st}/series/{se}"
            sizes = []

            def fetch():                      # read in one go: the client must not be the bottleneck
                r = requests.get(url, stream=True, timeout=600,
                                 headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
                if r.status_code != 200:
                    raise RuntimeError(f"{url}: {r.status_code}")
                sizes.append(len(r.raw.read()))
            secs = median_time(fetch, 3)
            results[s.name]["WADO-RS MB/s"] = sizes[-1] / secs / 1e6
    finally:
        for s in servers:
            try:
                s.stop()
            except Exception:
                pass
        shutil.rmtree(work, ignore_errors=True)
    keys = list(results["dgate"])
    print(f"{'':22s} {'dgate':>12s} {'Orthanc':>12s} {'ratio':>8s}")
    for k in keys:
        a, b = results["dgate"][k], results["Orthanc"][k]
        better_low = k.endswith(("ms", " s"))
        ratio = (b / a if better_low else a / b) if a and b else 0
        print(f"{k:22s} {a:12.2f} {b:12.2f} {ratio:8.2f}")
    print("ratio > 1: dgate ahead")


if __name__ == "__main__":
    main()
