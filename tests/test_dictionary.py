"""dgate.dic text and binary forms (conquest-storage.md §6.9)."""
import struct

import pytest

from dgate.config.dictionary import Dictionary, standard_dictionary
from dgate.config.errors import ConfigError

TEXT = ('# comment\n'
        '(0000,0100) VERS="3"\tVR="US"   VM="1"\tKeyword="CommandField"\t\tName="Command Field"\n'
        '(0010,0010) VERS="4"\tVR="PN"   VM="1"\tKeyword="PatientName"\tName="Patient\'s Name"\n'
        '(0028,1201) VERS="4"\tVR="OB/OW" VM="1"\tKeyword="RedPaletteColorLookupTableData"\n'
        '(50xx,0005) VERS="4"\tVR="US"   VM="1"\tKeyword="CurveDimensions"\n'
        '(0008,0020) no vr here\n'
        '{ 0x0009, 0x0010, LO, "legacy entry" }\n')


def test_text_form():
    dic = Dictionary.from_text(TEXT, "dgate.dic")
    assert [(e.group, e.element, e.vr) for e in dic.entries] == [
        (0, 0x100, "US"), (0x10, 0x10, "PN"), (0x28, 0x1201, "OB"), (9, 0x10, "LO")]
    assert dic.vr(0x00100010) == "PN"
    assert dic.by_keyword("patientname").tag == 0x00100010
    assert dic.entries[3].keyword == "legacy entry"
    assert [w.line for w in dic.warnings] == [6]


def test_binary_layout_and_round_trip(tmp_path):
    dic = Dictionary.from_text(TEXT)
    data = dic.to_binary()
    assert data[:12] == b"#!BinRTC\r\n\0\0"
    count, koff, ksize, doff, dsize, soff, ssize = struct.unpack_from("<7I", data, 12)
    assert (count, koff, ksize, doff, dsize) == (4, 1028, 16, 1044, 48)
    assert soff == 1092 and ssize == len(data) - soff
    assert struct.unpack_from("<4I", data, koff) == (0x00000100, 0x00090010, 0x00100010, 0x00281201)
    assert data[doff + 4:doff + 6] == b"SU"      # 'US' stored as (U<<8|S) little endian
    path = tmp_path / "bin.dic"
    path.write_bytes(data)
    again = Dictionary.load(path)
    assert [(e.tag, e.vr, e.keyword) for e in again.entries] == sorted(
        [(e.tag, e.vr, e.keyword) for e in dic.entries])


def test_standard_dictionary_round_trips_through_text():
    dic = standard_dictionary()
    assert len(dic) > 4000
    again = Dictionary.from_text(dic.to_text())
    assert len(again) == len(dic)
    assert again.vr(0x7FE00010) == "OW" and again.vr(0x99990401) == "OB"   # PixelData OW/OB in Conquest's dgate.dic


def test_truncated_binary_is_an_error():
    with pytest.raises(ConfigError, match="truncated"):
        Dictionary.from_binary(b"#!BinRTC\r\n")
