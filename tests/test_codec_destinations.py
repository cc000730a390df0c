"""Per-destination compression against a real dcmtk storescp: we propose what the acrnema.map
column proposes (AddTransferSyntaxs), storescp chooses by its own preference, and the object
sent (codec.storage.retrieve_step) arrives in exactly the syntax it accepted."""
from __future__ import annotations

import socket

import numpy as np
import pydicom
import pytest
from codecimages import fresh, kinds
from netpeers import StoreSCP, have_dcmtk
from pynetdicom import AE, build_context, evt

from dgate import codec
from dgate.codec import syntaxes as ts
from dgate.codec.storage import file_step, retrieve_step
from dgate.config import Configuration
from dgate.config.defaults import create_default_config
from dgate.store.compression import dropped_code, incoming_code

pytestmark = pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is not installed")
KINDS = kinds()


def send(port: int, stored: codec.Encoded, column: str, settings) -> str:
    """One C-STORE as the retrieve path will do it; returns the accepted syntax."""
    ds = stored.header()
    ae = AE(ae_title="CODECTEST")
    context = build_context(str(ds.SOPClassUID), codec.proposed_syntaxes(column, stored.transfer_syntax))

    def nodelay(event):
        event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    assoc = ae.associate("127.0.0.1", port, contexts=[context], ae_title="STORESCP",
                         evt_handlers=[(evt.EVT_CONN_OPEN, nodelay)])
    assert assoc.is_established
    try:
        accepted = str(assoc.accepted_contexts[0].transfer_syntax[0])
        out = retrieve_step(stored, accepted, column, settings)
        assert out.transfer_syntax == accepted
        full = out.dataset()
        full.file_meta.TransferSyntaxUID = accepted
        status = assoc.send_c_store(full)
        assert status.Status == 0
        return accepted
    finally:
        assoc.release()


@pytest.fixture
def settings(tmp_path):
    (tmp_path / "cfg").mkdir()
    create_default_config(tmp_path / "cfg")
    return Configuration.open(tmp_path / "cfg").settings


@pytest.mark.parametrize("preference, column, stored_code, expected", [
    (["+xa"], "j2", "as", {ts.JPEG_LOSSLESS, ts.JPEG_LOSSLESS_SV1}),      # compressed for the destination
    (["+xs"], "j1", "as", {ts.JPEG_LOSSLESS_SV1, ts.JPEG_LOSSLESS}),
    ([], "j2", "as", {ts.EXPLICIT_LE, ts.IMPLICIT_LE}),                  # refuses JPEG: sent uncompressed
    (["+xt"], "js", "as", {ts.JPEGLS_LOSSLESS}),
    (["+xa"], "as", "jk", {ts.J2K_LOSSLESS}),                           # stored J2K kept as it is
    ([], "as", "jk", {ts.EXPLICIT_LE}),                                 # stored J2K, not accepted
    (["+xa"], "un", "j1", {ts.IMPLICIT_LE}),
    (["+xb"], "ub", "as", {ts.EXPLICIT_BE}),
])
def test_destination_receives_the_syntax_it_accepted(tmp_path, settings, preference, column, stored_code, expected):
    with StoreSCP(tmp_path / "received", "STORESCP", *preference) as scp:
        stored = codec.Encoded.from_dataset(codec.recompress(fresh(KINDS["mono12"]), stored_code))
        accepted = send(scp.port, stored, column, settings)
        assert accepted in expected
        arrived = pydicom.dcmread(scp.wait_for(1, 10)[0])
        assert arrived.file_meta.TransferSyntaxUID == accepted
        assert np.array_equal(codec.decode_frames(arrived), codec.decode_frames(KINDS["mono12"]))


def test_codes_in_force(settings, tmp_path):
    assert incoming_code(settings) == "un" and dropped_code(settings) == "un"      # the shipped dicom.ini
    assert incoming_code(settings, "CONQUESTSRV1~j2") == "j2"
    from dgate.config.ini import put_param
    ini = tmp_path / "cfg" / "dicom.ini"
    put_param(ini, "FileCompressMode", "3")
    from dgate.config.ini import delete_param
    delete_param(ini, "IncomingCompression")
    fresh_settings = Configuration.open(tmp_path / "cfg").settings
    assert incoming_code(fresh_settings) == "n3" and dropped_code(fresh_settings) == "un"


def test_nki_only_in_v2_files_unless_allowed(settings):
    nki = codec.Encoded.from_dataset(codec.recompress(fresh(KINDS["mono12"]), "n4"))
    assert file_step(nki, "x/y.v2", settings) is nki
    assert 0x7FDF0010 not in file_step(nki, "x/y.dcm", settings).dataset()


def test_failed_transcode_sends_the_stored_form_when_accepted(settings):
    stored = codec.Encoded.from_dataset(codec.recompress(fresh(KINDS["signed16"]), "j1"))
    lines = []
    # column j3 on 16-bit data cannot give .51; the destination also took the stored .70
    out = retrieve_step(stored, ts.JPEG_EXTENDED, "j3", settings, also_accepted=[ts.JPEG_LOSSLESS_SV1],
                        log=lines.append)
    assert out is stored and "sent as stored" in lines[0]
    with pytest.raises(codec.CodecError):
        retrieve_step(stored, ts.JPEG_EXTENDED, "j3", settings)
