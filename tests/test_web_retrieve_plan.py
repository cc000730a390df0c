"""WADO-RS series retrieve planning (dgate.web.retrieve.stored_parts / part_stream): which
stored files go out byte for byte, found from their header only, and the exact body size."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from dgate import codec
from dgate.db.database import InstanceFile
from dgate.log import Logs
from dgate.web import retrieve
from dgate.web.multipart import parse_buffer


def _loc(path: Path) -> retrieve.Located:
    ds = dcmread(path, stop_before_pixels=True)
    return retrieve.Located(InstanceFile(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID,
                                         ds.SOPClassUID, path.name, "MAG0"), path)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    ct = dcmread(get_testdata_file("CT_small.dcm"))       # ends in (FFFC,FFFC) padding after the pixels
    out = {}
    out["ct"] = tmp_path / "ct.dcm"
    ct.save_as(out["ct"], enforce_file_format=True)
    # the bytes of a Pixel Data header inside an earlier value, then a (7FDF,0010) element:
    # only the real pixel data may end the header search, so the file is not sent as is
    fake = dcmread(get_testdata_file("CT_small.dcm"))
    fake.add_new(0x00091010, "OB", b"\xe0\x7f\x10\x00OW\x00\x00" + (16).to_bytes(4, "little") + b"\0" * 16)
    fake.add_new(0x7FDF0010, "OB", b"\x01\x02\x03\x04")
    out["fake"] = tmp_path / "fake.dcm"
    fake.save_as(out["fake"], enforce_file_format=True)
    nki = codec.recompress(dcmread(get_testdata_file("CT_small.dcm")), "n4")
    out["nki"] = tmp_path / "nki.dcm"
    nki.save_as(out["nki"], enforce_file_format=True)
    implicit = dcmread(get_testdata_file("MR_small.dcm"))
    out["implicit"] = tmp_path / "implicit.dcm"
    implicit.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"
    implicit.save_as(out["implicit"], enforce_file_format=True)
    return out


def test_only_plain_files_are_sent_as_is(files):
    located = [_loc(files[k]) for k in ("ct", "fake", "nki", "implicit")]
    known = retrieve.stored_parts(located, "b" * 32)
    assert known.as_is == [True, False, False, True]
    assert known.sizes == [files[k].stat().st_size for k in ("ct", "fake", "nki", "implicit")]
    assert known.total is None                  # the NKI file is rewritten: no exact size
    plain = [located[0], located[3]]
    known = retrieve.stored_parts(plain, "b" * 32)
    body = _drain(retrieve.part_stream(plain, known.syntaxes, "b" * 32, Logs(), known=known, batch=1))
    assert len(body) == known.total
    parts = parse_buffer(body, "b" * 32)
    assert [p.body for p in parts] == [files["ct"].read_bytes(), files["implicit"].read_bytes()]


def test_mixed_series_expands_nki_and_keeps_the_rest(files):
    located = [_loc(files[k]) for k in ("ct", "nki", "ct")]
    known = retrieve.stored_parts(located, "B")
    body = _drain(retrieve.part_stream(located, known.syntaxes, "B", Logs(), known=known))
    parts = parse_buffer(body, "B")
    assert parts[0].body == parts[2].body == files["ct"].read_bytes()
    from io import BytesIO
    expanded = dcmread(BytesIO(parts[1].body))
    assert 0x7FDF0010 not in expanded and expanded.pixel_array.shape == (128, 128)


def test_a_file_that_changes_size_ends_the_stream(files, tmp_path):
    copy = tmp_path / "copy.dcm"
    copy.write_bytes(files["ct"].read_bytes())
    located = [_loc(copy)]
    known = retrieve.stored_parts(located, "B")
    copy.write_bytes(files["ct"].read_bytes()[:-100])
    with pytest.raises(OSError):
        _drain(retrieve.part_stream(located, known.syntaxes, "B", Logs(), known=known))


def _drain(gen) -> bytes:
    async def run() -> bytes:
        return b"".join([bytes(b) async for b in gen])
    return asyncio.run(run())


def test_plan_sends_files_already_in_the_wanted_syntax_unchanged(files):
    explicit, implicit = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"
    located = [_loc(files["ct"]), _loc(files["implicit"])]
    targets, known = retrieve.plan_parts(located, [explicit], "B")
    assert targets == [explicit, explicit] and known.as_is == [True, False] and known.total is None
    targets, known = retrieve.plan_parts(located[:1], [explicit], "B")
    assert known.as_is == [True] and known.total == len(
        _drain(retrieve.part_stream(located[:1], targets, "B", Logs(), known=known)))
    targets, known = retrieve.plan_parts(located, [implicit, explicit], "B")
    assert targets == [implicit, implicit] and known.as_is == [False, True]
    body = _drain(retrieve.part_stream(located, targets, "B", Logs(), known=known))
    parts = parse_buffer(body, "B")
    from io import BytesIO
    first = dcmread(BytesIO(parts[0].body))
    assert first.file_meta.TransferSyntaxUID == implicit and first.pixel_array.shape == (128, 128)
    assert parts[1].body == files["implicit"].read_bytes()
    with pytest.raises(Exception) as refused:
        retrieve.plan_parts(located, ["1.2.840.10008.1.2.4.50"], "B")     # 16-bit CT as JPEG Baseline
    assert getattr(refused.value, "status", 0) == 406
