"""What readers and retrieve destinations get: NKI transparency, the acrnema.map column
(AddTransferSyntaxs / GetAcceptedCompressionType), stored bytes passed through untouched."""
from __future__ import annotations

import numpy as np
import pytest
from codecimages import fresh, kinds

from dgate import codec
from dgate.codec import syntaxes as ts

KINDS = kinds()


def encoded(kind: str, code: str = "as") -> codec.Encoded:
    return codec.Encoded.from_dataset(codec.recompress(fresh(KINDS[kind]), code))


def test_readable_expands_nki_and_leaves_everything_else_alone():
    plain = encoded("mono12")
    assert codec.readable(plain) is plain                          # no NKI tag: not even parsed
    nki = encoded("mono12", "n4")
    assert codec.syntaxes.UNCOMPRESSED >= {nki.transfer_syntax}
    out = codec.readable(nki)
    assert out is not nki and 0x7FDF0010 not in out.dataset()
    assert np.array_equal(codec.decode_frames(out), codec.decode_frames(KINDS["mono12"]))
    ds = codec.recompress(fresh(KINDS["mono12"]), "n3")
    assert codec.readable(ds) is ds and "PixelData" in ds


def test_proposed_syntaxes_per_column():
    assert codec.proposed_syntaxes("un") == [ts.IMPLICIT_LE]
    assert codec.proposed_syntaxes("n4") == [ts.IMPLICIT_LE]
    assert codec.proposed_syntaxes("ul") == [ts.EXPLICIT_LE, ts.IMPLICIT_LE]
    assert codec.proposed_syntaxes("ub") == [ts.EXPLICIT_BE, ts.IMPLICIT_LE]
    assert codec.proposed_syntaxes("ue") == [ts.EXPLICIT_LE, ts.EXPLICIT_BE, ts.IMPLICIT_LE]
    assert codec.proposed_syntaxes("j1") == [ts.JPEG_LOSSLESS, ts.JPEG_LOSSLESS_SV1, ts.IMPLICIT_LE]
    assert codec.proposed_syntaxes("j3") == [ts.JPEG_EXTENDED, ts.JPEG_BASELINE, ts.IMPLICIT_LE]
    assert codec.proposed_syntaxes("j6") == [ts.JPEG_PROGRESSIVE, ts.JPEG_EXTENDED, ts.JPEG_BASELINE, ts.IMPLICIT_LE]
    assert codec.proposed_syntaxes("jl") == [ts.J2K, ts.J2K_LOSSLESS, ts.IMPLICIT_LE]
    assert codec.proposed_syntaxes("j7") == [ts.JPEGLS_NEAR, ts.JPEGLS_LOSSLESS, ts.IMPLICIT_LE]
    assert codec.proposed_syntaxes("jk!") == [ts.J2K_LOSSLESS]
    assert codec.proposed_syntaxes("as", ts.JPEG_LOSSLESS_SV1) == [ts.JPEG_LOSSLESS_SV1, ts.EXPLICIT_LE,
                                                                  ts.IMPLICIT_LE]


def test_compression_for_the_accepted_syntax():
    assert codec.compression_for_destination("j2", ts.JPEG_LOSSLESS_SV1) == "j1"
    assert codec.compression_for_destination("j3", ts.JPEG_BASELINE) == "j3"
    assert codec.compression_for_destination("j3", ts.IMPLICIT_LE) == "ui"
    assert codec.compression_for_destination("jk", ts.EXPLICIT_LE) == "ul"
    assert codec.compression_for_destination("j2", "1.2.3.4") == "un"
    assert codec.compression_for_destination("n4", ts.IMPLICIT_LE) == "n4"
    assert codec.compression_for_destination("as", ts.J2K) == "as"


def test_stored_bytes_go_out_untouched_when_accepted():
    stored = encoded("mono12", "j1")
    assert codec.for_destination(stored, ts.JPEG_LOSSLESS_SV1, "as") is stored
    assert codec.for_destination(stored, ts.JPEG_LOSSLESS_SV1, "j1") is stored
    assert codec.for_destination(stored, ts.JPEG_LOSSLESS_SV1, "j2") is stored      # j2 column, .70 accepted


def test_destination_that_refuses_the_stored_syntax_gets_it_decompressed():
    stored = encoded("mono12", "jk")
    out = codec.for_destination(stored, ts.EXPLICIT_LE, "as")
    assert out.transfer_syntax == ts.EXPLICIT_LE
    assert np.array_equal(codec.decode_frames(out), codec.decode_frames(KINDS["mono12"]))
    out = codec.for_destination(stored, ts.IMPLICIT_LE, "j2")                     # column j2, only .1.2 taken
    assert out.transfer_syntax == ts.IMPLICIT_LE


def test_destination_column_compresses():
    plain = encoded("mono12")
    out = codec.for_destination(plain, ts.JPEG_LOSSLESS, "j2")
    assert out.transfer_syntax == ts.JPEG_LOSSLESS
    lossy = codec.for_destination(plain, ts.JPEG_EXTENDED, "j3")
    assert lossy.transfer_syntax == ts.JPEG_EXTENDED
    with pytest.raises(codec.CodecError):
        codec.for_destination(encoded("signed16"), ts.JPEG_EXTENDED, "j3")      # 16 bits cannot go as .51


def test_nki_goes_to_nki_clients_as_stored_and_to_others_expanded():
    nki = encoded("mono12", "n4")
    assert codec.for_destination(nki, nki.transfer_syntax, "as", nki_client=True) is nki
    plain = codec.for_destination(nki, nki.transfer_syntax, "as")
    assert 0x7FDF0010 not in plain.dataset()
    # an n column sends NKI data over an uncompressed syntax, as the original does
    sent = codec.for_destination(encoded("mono12"), ts.IMPLICIT_LE, "n2")
    assert sent.transfer_syntax == ts.IMPLICIT_LE and codec.pixels.nki_mode(sent.dataset()) == 2


def test_nki_client_codes():
    assert codec.nki_client_code("n4", max_nki=2) == "n2"
    assert codec.nki_client_code("un", requested="n5") == "n5"
    assert codec.nki_client_code("nj", max_nki=1) == "nj"
    assert codec.nki_client_code("j2", requested="", max_nki=None) == "j2"


def test_choose_accepted_and_nki_in_files():
    assert codec.choose_accepted(ts.J2K, [ts.EXPLICIT_LE, ts.J2K]) == ts.J2K
    assert codec.choose_accepted(ts.J2K, [ts.EXPLICIT_LE]) == ts.EXPLICIT_LE
    assert codec.choose_accepted(ts.J2K, []) is None
    assert codec.allow_nki_in("a/b.v2", False) and not codec.allow_nki_in("a/b.dcm", False)
    assert codec.allow_nki_in("a/b.dcm", True)


def test_for_ingest_uses_the_store_class_of_the_caller():
    from dgate.store.formats import Encoded as StoreEncoded
    stored = StoreEncoded(encoded("mono12").raw, ts.EXPLICIT_LE)
    out = codec.for_ingest(stored, "j2")
    assert isinstance(out, StoreEncoded) and out.transfer_syntax == ts.JPEG_LOSSLESS
    assert codec.for_ingest(stored, "as") is stored
