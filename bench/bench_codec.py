"""Encode/decode throughput per compression code: dgate's codec against dcmtk's command-line
tools on the same images, in one run.

    python3 bench/bench_codec.py [rounds]

Images: a 512x512 16-bit CT slice (built from CT_small), the 1955x1841 15-bit CR
RG1_UNCR and the 480x640 RGB ultrasound US1_UNCR (pydicom-data). MB/s counts the
uncompressed pixel bytes. dcmtk runs as a process per file, so its figures include process
start-up; that start-up (the tool on a 2x2 image) is printed too. dgate's figures are the
codec call in-process (recompress / decompress of a Dataset), best of ``rounds``.
The NKI modes have no dcmtk counterpart; set CONQUEST_DGATE to the original's binary to
time its ``-j*nN`` (also a process per file).
"""
from __future__ import annotations

import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dgate import codec  # noqa: E402
from dgate.codec import syntaxes as ts  # noqa: E402

DCMTK = Path("/usr/bin")
# code: (dcmtk compressor + options, decompressor)
CODES = {
    "j1": (["dcmcjpeg", "+e1"], "dcmdjpeg"),
    "j2": (["dcmcjpeg", "+el"], "dcmdjpeg"),
    "j3": (["dcmcjpeg", "+eb"], "dcmdjpeg"),
    "j4": (["dcmcjpeg", "+ee"], "dcmdjpeg"),
    "js": (["dcmcjpls", "+el"], "dcmdjpls"),
    "j780": (["dcmcjpls", "+en", "+md", "2"], "dcmdjpls"),
    "rle": (["dcmcrle"], "dcmdrle"),
    "jk": (None, None),
    "jl": (None, None),
    "n1": (None, None),
    "n4": (None, None),
}


def ct512() -> pydicom.Dataset:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    tile = np.tile(ds.pixel_array, (4, 4)).astype(np.int16)
    ds.Rows = ds.Columns = 512
    ds.PixelData = tile.tobytes()
    return ds


def images() -> dict[str, pydicom.Dataset]:
    found = {"CT 512x512 16-bit": ct512()}
    for label, name in (("CR 1955x1841 15-bit", "RG1_UNCR.dcm"), ("US 480x640 RGB", "US1_UNCR.dcm")):
        path = get_testdata_file(name, download=False)
        if path:
            found[label] = pydicom.dcmread(path)
    return found


def best(func, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def ours(ds, code: str, rounds: int) -> tuple[float | None, float | None]:
    def encode():
        work = copy.deepcopy(ds)
        return codec.transcode(work, ts.RLE) if code == "rle" else codec.recompress(work, code)
    try:
        coded = encode()
    except codec.CodecError:
        return None, None
    return best(encode, rounds), best(lambda: codec.decompress(copy.deepcopy(coded)), rounds)


def dcmtk(ds, code: str, rounds: int, folder: Path) -> tuple[float | None, float | None]:
    compressor, decompressor = CODES[code]
    if compressor is None:
        return None, None
    plain = folder / "plain.dcm"
    ds.save_as(plain, enforce_file_format=True)
    coded, back = folder / "coded.dcm", folder / "back.dcm"

    def encode():
        subprocess.run([str(DCMTK / compressor[0]), *compressor[1:], str(plain), str(coded)], check=True,
                       capture_output=True)
    try:
        encode()
    except subprocess.CalledProcessError:
        return None, None
    return best(encode, rounds), best(lambda: subprocess.run([str(DCMTK / decompressor), str(coded), str(back)],
                                                             check=True, capture_output=True), rounds)


def original_nki(ds, code: str, rounds: int, folder: Path) -> float | None:
    binary = os.environ.get("CONQUEST_DGATE")
    if not binary or not code.startswith("n"):
        return None
    target = folder / "nki.dcm"

    def run():
        ds.save_as(target, enforce_file_format=True)
        subprocess.run([binary, f"-j*{code}{target}"], check=True, capture_output=True, cwd=Path(binary).parent)
    return best(run, rounds)


def startup(folder: Path) -> float:
    tiny = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    tiny.Rows = tiny.Columns = 2
    tiny.PixelData = b"\0" * 8
    tiny.save_as(folder / "tiny.dcm", enforce_file_format=True)
    return best(lambda: subprocess.run([str(DCMTK / "dcmcrle"), str(folder / "tiny.dcm"), str(folder / "t.dcm")],
                                       check=True, capture_output=True), 5)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory() as where:
        folder = Path(where)
        print(f"dcmtk process start-up: {startup(folder) * 1000:.0f} ms")
        for label, ds in images().items():
            size = len(ds.PixelData) / 1e6
            print(f"\n{label} ({size:.1f} MB)")
            print(f"{'code':6} {'dgate enc':>10} {'dcmtk enc':>10} {'ratio':>6} {'dgate dec':>10} {'dcmtk dec':>10} "
                  f"{'ratio':>6}   MB/s; ratio = dgate / dcmtk")
            for code in CODES:
                enc, dec = ours(ds, code, rounds)
                denc, ddec = dcmtk(ds, code, rounds, folder)
                orig = original_nki(ds, code, rounds, folder)

                def rate(t):
                    return f"{size / t:10.1f}" if t else f"{'-':>10}"

                def ratio(a, b):
                    return f"{b / a:6.2f}" if a and b else f"{'-':>6}"
                extra = f"   original dgate -j*{code}: {size / orig:.1f} MB/s" if orig else ""
                print(f"{code:6} {rate(enc)} {rate(denc)} {ratio(enc, denc)} {rate(dec)} {rate(ddec)} "
                      f"{ratio(dec, ddec)}{extra}")


if __name__ == "__main__":
    main()
