"""Interoperability with dcmtk: our JPEG, JPEG-LS and RLE output decoded by dcmtk equals the
original pixels, and dcmtk's compressed files decode to its own pixels with our codec.
(dcmtk has no JPEG 2000 codec: our J2K output is checked with imagecodecs' OpenJPEG
binding instead, a separate decoder from pylibjpeg-openjpeg.)"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from codecimages import fresh, kinds, load
from pydicom import dcmread

from dgate import codec
from dgate.codec import syntaxes as ts

DCMTK = Path("/usr/bin")
pytestmark = pytest.mark.skipif(not (DCMTK / "dcmdjpeg").exists(), reason="dcmtk is not installed")
KINDS = kinds()


def save(ds, path: Path) -> Path:
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def run(tool: str, *args) -> None:
    result = subprocess.run([str(DCMTK / tool), *map(str, args)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{tool}: {result.stderr}"


def pixels_of(path: Path) -> np.ndarray:
    ds = dcmread(path)
    return codec.decode_frames(codec.decompress(ds)).astype(np.int64)


def ours(ds) -> np.ndarray:
    return codec.decode_frames(codec.decompress(fresh(ds))).astype(np.int64)


DECODERS = {"j1": "dcmdjpeg", "j2": "dcmdjpeg", "js": "dcmdjpls", "j7": "dcmdjpls", "rle": "dcmdrle"}
SAMPLES = ["mono8", "mono12", "signed16", "signed12", "mono16u", "mono1", "rgb8", "frames", "odd"]


@pytest.mark.parametrize("kind", SAMPLES)
@pytest.mark.parametrize("code", sorted(DECODERS))
def test_dcmtk_decodes_our_lossless_output(tmp_path, kind, code):
    original = KINDS[kind]
    coded = codec.transcode(fresh(original), ts.RLE) if code == "rle" else codec.recompress(fresh(original), code)
    source = save(coded, tmp_path / "coded.dcm")
    run(DECODERS[code], source, tmp_path / "plain.dcm")
    assert np.array_equal(pixels_of(tmp_path / "plain.dcm"), ours(original))


@pytest.mark.parametrize("kind, code", [("mono8", "j3"), ("rgb8", "j3"), ("mono12", "j4"), ("mono8", "j6"),
                                        ("rgb8", "j6"), ("mono12", "j780")])
def test_dcmtk_decodes_our_lossy_output_as_we_do(tmp_path, kind, code):
    coded = codec.recompress(fresh(KINDS[kind]), code)
    source = save(coded, tmp_path / "coded.dcm")
    tool = "dcmdjpls" if code.startswith("j7") else "dcmdjpeg"
    run(tool, source, tmp_path / "plain.dcm")
    theirs = pixels_of(tmp_path / "plain.dcm")
    # same stream, two decoders: grey values agree to the IDCT's rounding; colour also goes
    # through chroma upsampling and YCbCr→RGB, which libjpeg and pydicom round differently
    limit = 4 if KINDS[kind].SamplesPerPixel == 3 else 2
    assert np.abs(theirs - ours(coded)).max() <= limit
    assert np.abs(theirs - ours(coded)).mean() < 1
    assert np.abs(theirs - ours(KINDS[kind])).mean() <= 12         # and near the original


def test_dcmj2pnm_renders_our_jpeg(tmp_path):
    coded = codec.recompress(fresh(KINDS["mono12"]), "j1")
    source = save(coded, tmp_path / "coded.dcm")
    run("dcmj2pnm", "--write-raw-pnm", "--min-max-window", source, tmp_path / "out.pgm")
    assert (tmp_path / "out.pgm").stat().st_size > 32 * 40


@pytest.mark.parametrize("kind", ["mono8", "mono12", "signed16", "rgb8"])
def test_our_jpeg2000_decoded_by_openjpeg_through_imagecodecs(kind):
    import imagecodecs
    from pydicom.encaps import generate_frames
    for code in ("jk",):
        coded = codec.recompress(fresh(KINDS[kind]), code)
        frame = next(generate_frames(coded.PixelData, number_of_frames=1))
        arr = imagecodecs.jpeg2k_decode(frame).astype(np.int64)
        expected = ours(KINDS[kind])[0]
        assert np.array_equal(arr, expected)


COMPRESSORS = [("dcmcjpeg", ["+e1"], ts.JPEG_LOSSLESS_SV1), ("dcmcjpeg", ["+el"], ts.JPEG_LOSSLESS),
               ("dcmcjpls", ["+el"], ts.JPEGLS_LOSSLESS), ("dcmcrle", [], ts.RLE)]


@pytest.mark.parametrize("kind", ["mono8", "mono12", "signed16", "rgb8", "frames"])
@pytest.mark.parametrize("tool, options, uid", COMPRESSORS)
def test_we_decode_dcmtk_lossless_files(tmp_path, kind, tool, options, uid):
    source = save(fresh(KINDS[kind]), tmp_path / "plain.dcm")
    run(tool, *options, source, tmp_path / "coded.dcm")
    coded = dcmread(tmp_path / "coded.dcm")
    assert coded.file_meta.TransferSyntaxUID == uid
    assert np.array_equal(ours(coded), ours(KINDS[kind]))


@pytest.mark.parametrize("kind, tool, options", [("mono8", "dcmcjpeg", ["+eb"]), ("rgb8", "dcmcjpeg", ["+eb"]),
                                                 ("mono12", "dcmcjpeg", ["+ee"]), ("mono8", "dcmcjpeg", ["+ep"]),
                                                 ("mono12", "dcmcjpls", ["+en", "+md", "2"])])
def test_we_decode_dcmtk_lossy_files_as_dcmtk_does(tmp_path, kind, tool, options):
    source = save(fresh(KINDS[kind]), tmp_path / "plain.dcm")
    run(tool, *options, source, tmp_path / "coded.dcm")
    run("dcmdjpls" if tool == "dcmcjpls" else "dcmdjpeg", tmp_path / "coded.dcm", tmp_path / "back.dcm")
    difference = np.abs(ours(dcmread(tmp_path / "coded.dcm")) - pixels_of(tmp_path / "back.dcm"))
    assert difference.max() <= (4 if KINDS[kind].SamplesPerPixel == 3 else 2) and difference.mean() < 1


def test_real_ct_through_dcmtk_and_back(tmp_path):
    ct = load("CT_small.dcm")
    for code, tool in (("j1", "dcmdjpeg"), ("j2", "dcmdjpeg"), ("js", "dcmdjpls")):
        source = save(codec.recompress(fresh(ct), code), tmp_path / f"{code}.dcm")
        run(tool, source, tmp_path / f"{code}_plain.dcm")
        assert np.array_equal(pixels_of(tmp_path / f"{code}_plain.dcm"), ours(ct))
