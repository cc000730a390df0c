"""DICOM JSON built by our fast paths equals pydicom's, on every pydicom test file."""
from __future__ import annotations

import glob
import os
import warnings
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_charset_files, get_testdata_file

from dgate.web.dicomjson import raw_json, to_json_dict
from dgate.web.headerjson import Unsupported, file_json

FILES = sorted(glob.glob(os.path.join(os.path.dirname(get_testdata_file("CT_small.dcm")), "*.dcm"))
               + get_charset_files())


def reference(path):
    """pydicom's JSON of the fully decoded data set (values over 1 KiB as URIs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = dcmread(path, defer_size=1024, force=True)
        return to_json_dict(ds, lambda parts: "/".join(parts))


def test_header_parser_matches_pydicom_on_all_test_files():
    compared = 0
    for path in FILES:
        try:
            ref = reference(path)
        except Exception:            # pydicom cannot read it either
            continue
        try:
            got = file_json(Path(path), lambda parts: "/".join(parts))
        except Unsupported:
            continue
        compared += 1
        for tag in set(ref) | set(got):
            a, b = ref.get(tag), got.get(tag)
            if tag == "00080005" and a and b and "Value" in a:   # empty: null (PS3.18 F.2.5); pydicom: ""
                assert [v or None for v in a["Value"]] == b.get("Value")
                continue
            assert a == b, (os.path.basename(path), tag, a, b)
    assert compared > 60


@pytest.mark.parametrize("vr,raw,expected", [
    ("PN", b"Doe^John=\xe5\xb1\xb1", None),                      # non-ASCII: pydicom decides
    ("PN", b"Doe^John ", {"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]}),
    ("DS", b"1.5\\2 ", {"vr": "DS", "Value": [1.5, 2]}),
    ("IS", b"x", None),
    ("CS", b"A\\\\B", {"vr": "CS", "Value": ["A", None, "B"]}),
    ("US", b"\x01\x00\x02\x00", {"vr": "US", "Value": [1, 2]}),
    ("AT", b"\x10\x00\x20\x00", {"vr": "AT", "Value": ["00100020"]}),
    ("UI", b"1.2.3\x00", {"vr": "UI", "Value": ["1.2.3"]}),
    ("LT", b"a\\b ", {"vr": "LT", "Value": ["a\\b"]}),
    ("LO", b"", {"vr": "LO"}),
])
def test_raw_values(vr, raw, expected):
    assert raw_json(vr, raw) == expected
