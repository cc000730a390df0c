"""Compression in the running server (``dgate`` subprocess: hub + workers) with real peers:
IncomingCompression on C-STORE (conquest-storage.md §6.7), NKI in ``.v2`` files (§6.8)
expanded for every reader, the acrnema.map compression column per C-MOVE destination as a
dcmtk ``storescp`` receives it (the meta of its files names the transfer syntax), and damaged
compressed streams (stored as received; sent as stored or the sub-operation fails)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import run_dgate
from netpeers import DgateProcess, StoreSCP, dcmtk, free_port, have_dcmtk, start_server
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames
from pynetdicom import AE

pytestmark = pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is not installed")

IMPLICIT, EXPLICIT = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1"
JPEG_LOSSLESS, JPEG_SV1 = "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"
JPEGLS_LOSSLESS = "1.2.840.10008.1.2.4.80"
J2K_LOSSLESS, J2K = "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"
CT = get_testdata_file("CT_small.dcm")
J2K_FILE = get_testdata_file("JPEG2000.dcm")          # 1.2.840.10008.1.2.4.91, MONOCHROME2 16 bit


def _stored(folder: Path) -> list[Path]:
    data = folder / "data"
    return sorted(p for p in data.rglob("*") if p.is_file() and p.suffix.lower() in (".dcm", ".v2")
                  and "incoming" not in p.relative_to(data).parts)


def _store(port: int, ds: pydicom.Dataset, called: str = "CONQUESTSRV1") -> int:
    ae = AE("PYSCU")
    ae.add_requested_context(ds.SOPClassUID, [str(ds.file_meta.TransferSyntaxUID)])
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    assert assoc.is_established
    try:
        return assoc.send_c_store(ds).Status
    finally:
        assoc.release()


def _move(port: int, destination: str, study: str, requested: str = "") -> list:
    """C-MOVE a study (with (9999,0700) ``requested``); the last response's (status,
    completed, failed)."""
    ae = AE("MOVER")
    ae.add_requested_context("1.2.840.10008.5.1.4.1.2.2.2")
    assoc = ae.associate("127.0.0.1", port, ae_title="CONQUESTSRV1")
    ident = pydicom.Dataset()
    ident.QueryRetrieveLevel = "STUDY"
    ident.StudyInstanceUID = study
    if requested:
        ident.add_new(0x99990700, "LO", requested)
    try:
        last = [s for s, _ in assoc.send_c_move(ident, destination, "1.2.840.10008.5.1.4.1.2.2.2") if s][-1]
    finally:
        assoc.release()
    return [last.Status, last.get("NumberOfCompletedSuboperations", 0), last.get("NumberOfFailedSuboperations", 0)]


def _server(folder: Path, rows: list[tuple[str, int, str]] = (), **params: str) -> DgateProcess:
    folder.mkdir(parents=True, exist_ok=True)
    start_server(folder, start=False, **params)
    amap = folder / "acrnema.map"
    lines = "".join(f"{ae} 127.0.0.1 {port} {code}\n" for ae, port, code in rows)
    # before the shipped wildcard rows (file order decides)
    amap.write_text(amap.read_text().replace("CONQUESTSRV1", lines + "CONQUESTSRV1", 1))
    return DgateProcess(folder)


def _meta_ts(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)


@pytest.mark.parametrize("code,expected", [("j2", JPEG_LOSSLESS), ("un", EXPLICIT), ("jk", J2K_LOSSLESS)])
def test_incoming_compression_end_to_end(tmp_path, code, expected):
    proc = _server(tmp_path, IncomingCompression=code)
    try:
        assert dcmtk("storescu", "-aec", "CONQUESTSRV1", "127.0.0.1", str(proc.port), CT).returncode == 0
        ds = pydicom.dcmread(J2K_FILE)
        assert _store(proc.port, ds) == 0
        files = {pydicom.dcmread(p).SOPInstanceUID: p for p in _stored(tmp_path)}
        ct, j2k = pydicom.dcmread(CT), files[ds.SOPInstanceUID]
        assert _meta_ts(files[ct.SOPInstanceUID]) == expected
        assert np.array_equal(pydicom.dcmread(files[ct.SOPInstanceUID]).pixel_array, ct.pixel_array)
        if code == "un":
            assert _meta_ts(j2k) == EXPLICIT          # a JPEG 2000 input is stored decompressed
            assert np.array_equal(pydicom.dcmread(j2k).pixel_array, ds.pixel_array)
        else:
            assert _meta_ts(j2k) == expected
    finally:
        proc.stop()


def test_called_ae_suffix_overrides_incoming_compression(tmp_path):
    proc = _server(tmp_path, IncomingCompression="un")
    try:
        assert dcmtk("storescu", "-aec", "CONQUESTSRV1~j1", "127.0.0.1", str(proc.port), CT).returncode == 0
        (stored,) = _stored(tmp_path)
        assert _meta_ts(stored) == JPEG_SV1
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A server holding CT_small (as received) and JPEG2000.dcm, with a destination per
    column on one storescp accepting every syntax it knows, and a plain one."""
    base = tmp_path_factory.mktemp("codecsrv")
    scp = StoreSCP(base / "received", "ANY", "+xa")
    plain = StoreSCP(base / "plain", "PLAIN")
    rows = [("J2DEST", scp.port, "j2"), ("JKDEST", scp.port, "jk"), ("JSDEST", scp.port, "js"),
            ("UNDEST", scp.port, "un"),
            ("ASDEST", scp.port, "as"), ("ULDEST", scp.port, "ul"), ("W*", scp.port, "j1"),
            ("PLAIN", plain.port, "j2"), ("PLAINUN", plain.port, "un")]
    proc = _server(base / "server", rows, IncomingCompression="as", AllowWildcardMoveDestinations="1")
    assert dcmtk("storescu", "127.0.0.1", str(proc.port), CT).returncode == 0
    assert _store(proc.port, pydicom.dcmread(J2K_FILE)) == 0
    yield proc, scp, plain
    proc.stop()
    scp.stop()
    plain.stop()


# storescp does not accept JPEG Lossless .57, the first syntax a j2 column proposes: it gets .70
@pytest.mark.parametrize("destination,expected", [
    ("J2DEST", JPEG_SV1), ("JKDEST", J2K_LOSSLESS), ("JSDEST", JPEGLS_LOSSLESS), ("UNDEST", IMPLICIT),
    ("ASDEST", EXPLICIT),
    ("ULDEST", EXPLICIT), ("WILDCARD", JPEG_SV1), ("PLAIN", IMPLICIT)])
def test_acrnema_column_decides_what_the_destination_receives(archive, destination, expected):
    proc, scp, plain = archive
    ct = pydicom.dcmread(CT)
    assert _move(proc.port, destination, ct.StudyInstanceUID) == [0, 1, 0]
    (got,) = (plain if destination == "PLAIN" else scp).take()
    assert str(got.file_meta.TransferSyntaxUID) == expected
    assert got.SOPInstanceUID == ct.SOPInstanceUID
    assert np.array_equal(got.pixel_array, ct.pixel_array)


def test_stored_compressed_bytes_go_out_untouched_or_decompressed(archive):
    proc, scp, plain = archive
    original = pydicom.dcmread(J2K_FILE)
    assert _move(proc.port, "ASDEST", original.StudyInstanceUID) == [0, 1, 0]
    (got,) = scp.take()
    assert str(got.file_meta.TransferSyntaxUID) == J2K and got.PixelData == original.PixelData
    assert _move(proc.port, "UNDEST", original.StudyInstanceUID) == [0, 1, 0]
    (got,) = scp.take()
    assert str(got.file_meta.TransferSyntaxUID) == IMPLICIT
    assert np.array_equal(got.pixel_array, original.pixel_array)


def test_requested_compression_in_the_identifier_replaces_the_column(archive):
    proc, scp, plain = archive
    ct = pydicom.dcmread(CT)
    assert _move(proc.port, "UNDEST", ct.StudyInstanceUID, requested="jk") == [0, 1, 0]
    (got,) = scp.take()
    assert str(got.file_meta.TransferSyntaxUID) == J2K_LOSSLESS
    assert np.array_equal(got.pixel_array, ct.pixel_array)


def _corrupt_j2k() -> pydicom.Dataset:
    ds = pydicom.dcmread(J2K_FILE)
    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    frame[len(frame) // 3:] = bytes(len(frame) - len(frame) // 3)          # the codestream breaks off
    frame[2:40] = b"\xff" * 38                                           # and its main header is garbage
    ds.PixelData = encapsulate([bytes(frame)])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.2.135.1066.999.1"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.2.135.1066.999.2"
    return ds


def test_corrupt_stream_is_stored_as_received_and_moved_as_stored_or_failed(tmp_path):
    scp = StoreSCP(tmp_path / "received", "ANY", "+xa")
    plain = StoreSCP(tmp_path / "plain", "PLAIN")
    proc = _server(tmp_path / "server", [("J2DEST", scp.port, "j2"), ("PLAIN", plain.port, "un")],
                   IncomingCompression="un")
    try:
        bad = _corrupt_j2k()
        assert _store(proc.port, bad) == 0
        (stored,) = _stored(tmp_path / "server")
        assert _meta_ts(stored) == J2K and pydicom.dcmread(stored).PixelData == bad.PixelData
        log = proc.output()
        assert "***Could not apply compression 'un'" in log and bad.SOPInstanceUID in log
        assert "stored as received" in log
        # j2 column: the transcode fails, the destination also accepted the stored syntax
        assert _move(proc.port, "J2DEST", bad.StudyInstanceUID) == [0, 1, 0]
        (got,) = scp.take()
        assert str(got.file_meta.TransferSyntaxUID) == J2K and got.PixelData == bad.PixelData
        assert "sent as stored" in proc.output()
        # a destination taking uncompressed data only: that sub-operation fails
        status = _move(proc.port, "PLAIN", bad.StudyInstanceUID)
        assert status[0] == 0xB000 and status[2] == 1
        assert plain.take() == []
        assert "***C-Move: cannot convert" in proc.output()
    finally:
        proc.stop()
        scp.stop()
        plain.stop()


def test_nki_stored_in_v2_is_read_and_moved_as_ordinary_pixels(tmp_path):
    scp = StoreSCP(tmp_path / "received", "ANY", "+xa")
    proc = _server(tmp_path / "server", [("UNDEST", scp.port, "un"), ("J2DEST", scp.port, "j2")],
                   IncomingCompression="n4", FileNameSyntax="3")
    try:
        ct = pydicom.dcmread(CT)
        assert dcmtk("storescu", "127.0.0.1", str(proc.port), CT).returncode == 0
        (stored,) = _stored(tmp_path / "server")
        assert stored.suffix == ".v2"
        raw = pydicom.dcmread(stored, force=True)
        assert 0x7FDF0010 in raw and "PixelData" not in raw                   # NKI as Conquest stores it
        for destination, expected in (("UNDEST", IMPLICIT), ("J2DEST", JPEG_SV1)):
            assert _move(proc.port, destination, ct.StudyInstanceUID) == [0, 1, 0]
            (got,) = scp.take()
            assert str(got.file_meta.TransferSyntaxUID) == expected and 0x7FDF0010 not in got
            assert np.array_equal(got.pixel_array, ct.pixel_array)
        # C-GET too
        got_dir = tmp_path / "got"
        got_dir.mkdir()
        get = dcmtk("getscu", "-S", "-od", str(got_dir), "-k", "QueryRetrieveLevel=STUDY",
                    "-k", f"StudyInstanceUID={ct.StudyInstanceUID}", "127.0.0.1", str(proc.port))
        assert get.returncode == 0, get.stderr
        (fetched,) = [pydicom.dcmread(p) for p in got_dir.iterdir()]
        assert 0x7FDF0010 not in fetched and np.array_equal(fetched.pixel_array, ct.pixel_array)
        # readers see ordinary pixel data: dump_header shows (7fe0,0010)
        dump = run_dgate([f"-p{proc.port}", f"--dump_header:{ct.PatientID}|{ct.SOPInstanceUID}"], tmp_path / "server")
        assert "7fe0,0010" in dump.stdout.lower() and "7fdf,0010" not in dump.stdout.lower()
    finally:
        proc.stop()
        scp.stop()


def test_nki_into_dcm_file_is_expanded_unless_allowed(tmp_path):
    proc = _server(tmp_path, IncomingCompression="n2")
    try:
        assert dcmtk("storescu", "127.0.0.1", str(proc.port), CT).returncode == 0
        (stored,) = _stored(tmp_path)
        ds = pydicom.dcmread(stored)
        assert stored.suffix == ".dcm" and 0x7FDF0010 not in ds
        assert np.array_equal(ds.pixel_array, pydicom.dcmread(CT).pixel_array)
    finally:
        proc.stop()


def test_archive_compression_applies_when_data_moves_to_another_device(tmp_path):
    from convhelpers import folder

    import dgate.codec.storage  # noqa: F401  (ArchiveCompression plugs in, as in the server)
    from dgate.db import open_database
    from dgate.store.archive import Archiver
    from dgate.store.devices import locate
    from dgate.store.formats import read_file
    from dgate.store.ingest import Ingest
    mag1 = tmp_path / "mag1"
    config, logs, sink = folder(tmp_path / "srv", MAGDevices="2", MAGDevice1=f"{mag1}/", ArchiveCompression="jk")
    db = open_database(config, logs)
    try:
        ct = pydicom.dcmread(CT)
        Ingest(config, logs).store(read_file(CT), db)
        assert Archiver(db, config.settings, logs).move_data("MAG0", "MAG1")
        found = db.get_file(str(ct.SOPInstanceUID))
        path = locate(config.settings, found.device, found.object_file)
        assert found.device == "MAG1" and path.is_relative_to(mag1)
        moved = pydicom.dcmread(path)
        assert str(moved.file_meta.TransferSyntaxUID) == J2K_LOSSLESS
        assert np.array_equal(moved.pixel_array, ct.pixel_array)
    finally:
        db.close()


def test_dropped_file_compression_for_addimagefile_and_the_incoming_folder(tmp_path):
    start_server(tmp_path, start=False, DroppedFileCompression="js", IncomingCompression="un")
    assert run_dgate([f"-fa{CT}"], tmp_path).returncode == 0
    (stored,) = _stored(tmp_path)
    assert _meta_ts(stored) == JPEGLS_LOSSLESS
    stored.unlink()
    (tmp_path / "data" / "incoming").mkdir()
    proc = DgateProcess(tmp_path)
    try:
        ds = pydicom.dcmread(J2K_FILE)
        shutil.copy(J2K_FILE, tmp_path / "data" / "incoming" / "j2k.dcm")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (tmp_path / "data" / "incoming" / "j2k.dcm").exists():
            time.sleep(0.2)
        (added,) = [p for p in _stored(tmp_path) if pydicom.dcmread(p).SOPInstanceUID == ds.SOPInstanceUID]
        assert _meta_ts(added) == JPEGLS_LOSSLESS
        assert not (tmp_path / "data" / "incoming" / "j2k.dcm").exists()
    finally:
        proc.stop()


def test_incoming_compression_of_an_object_spooled_to_disk(tmp_path):
    """Objects beyond 4 MB arrive in a spool file (a memory view of its mapping): the codec
    must see their pixel data there too."""
    ds = pydicom.dcmread(CT)
    frames = 40
    pixels = np.tile(ds.pixel_array, (frames, 4, 4)).astype(np.int16)     # 40 x 512 x 512, 20 MB
    ds.Rows, ds.Columns, ds.NumberOfFrames = 512, 512, frames
    ds.PixelData = pixels.tobytes()
    path = tmp_path / "big.dcm"
    ds.save_as(path)
    scp = StoreSCP(tmp_path / "received", "UNDEST")
    proc = _server(tmp_path / "server", [("UNDEST", scp.port, "un")], IncomingCompression="j2")
    try:
        assert dcmtk("storescu", "127.0.0.1", str(proc.port), str(path)).returncode == 0
        (stored,) = _stored(tmp_path / "server")
        back = pydicom.dcmread(stored)
        assert str(back.file_meta.TransferSyntaxUID) == JPEG_LOSSLESS
        assert stored.stat().st_size < path.stat().st_size // 2
        assert np.array_equal(back.pixel_array, pixels)
        # and out again, decompressed (its pixel data sent as the element's own buffer)
        assert _move(proc.port, "UNDEST", ds.StudyInstanceUID) == [0, 1, 0]
        (got,) = scp.take()
        assert str(got.file_meta.TransferSyntaxUID) == IMPLICIT
        assert np.array_equal(got.pixel_array, pixels)
    finally:
        proc.stop()
        scp.stop()


def test_nki_private_retrieve_class_gets_nki_data_as_stored_and_un_expands_it(tmp_path):
    from pynetdicom import evt
    from pynetdicom.sop_class import CTImageStorage

    got: list[pydicom.Dataset] = []

    def on_store(event):
        ds = event.dataset
        ds.file_meta = event.file_meta
        got.append(ds)
        return 0
    dest = AE("NKIDEST")
    dest.add_supported_context(CTImageStorage, [IMPLICIT, EXPLICIT])
    dest_port = free_port()
    scp = dest.start_server(("127.0.0.1", dest_port), block=False,
                            evt_handlers=[(evt.EVT_C_STORE, on_store)])
    proc = _server(tmp_path / "server", [("NKIDEST", dest_port, "un")], IncomingCompression="n2",
                   FileNameSyntax="3")
    try:
        ct = pydicom.dcmread(CT)
        assert dcmtk("storescu", "127.0.0.1", str(proc.port), CT).returncode == 0
        nki_move = "1.2.826.0.1.3680043.2.135.1066.5.1.4.1.2.2.2"
        for model, nki in ((nki_move, True), ("1.2.840.10008.5.1.4.1.2.2.2", False)):
            ae = AE("MOVER")
            ae.add_requested_context(model)
            assoc = ae.associate("127.0.0.1", proc.port, ae_title="CONQUESTSRV1")
            ident = pydicom.Dataset()
            ident.QueryRetrieveLevel = "STUDY"
            ident.StudyInstanceUID = ct.StudyInstanceUID
            statuses = [s.Status for s, _ in assoc.send_c_move(ident, "NKIDEST", model) if s]
            assoc.release()
            assert statuses[-1] == 0
            (received,) = got
            got.clear()
            assert (0x7FDF0010 in received) is nki and ("PixelData" in received) is not nki
            if not nki:
                assert np.array_equal(received.pixel_array, ct.pixel_array)
        # an NKI .v2 file dropped in with DroppedFileCompression un is stored expanded
        (stored,) = _stored(tmp_path / "server")
        dropped = tmp_path / "nki.v2"
        shutil.copy(stored, dropped)
        run_dgate([f"-p{proc.port}", "--put_param:DroppedFileCompression,un"], tmp_path / "server")
        assert run_dgate([f"-p{proc.port}", f"--addimagefile:{dropped}"], tmp_path / "server").stdout == "0"
        (again,) = _stored(tmp_path / "server")
        from dgate.store.formats import read_file
        ds = read_file(again).dataset()
        assert 0x7FDF0010 not in ds and np.array_equal(ds.pixel_array, ct.pixel_array)
    finally:
        proc.stop()
        scp.shutdown()


def test_palette_colour_image_is_stored_as_rgb_and_counted(tmp_path):
    """The default IncomingCompression (``un``) turns PALETTE COLOR into RGB on arrival and
    counts it under "Palettes removed" in display_status, as 1.5.0e (issue 10)."""
    palette = get_testdata_file("OBXXXX1A.dcm", download=False)
    if palette is None:
        pytest.skip("pydicom's OBXXXX1A.dcm (PALETTE COLOR) is not available")
    source = pydicom.dcmread(palette)
    assert source.PhotometricInterpretation == "PALETTE COLOR"
    expected = pydicom.pixels.apply_color_lut(source.pixel_array, source)
    server = _server(tmp_path / "srv")
    try:
        before = run_dgate([f"-p{server.port}", "--display_status:"], server.folder).stdout
        assert "Palettes removed 0" in before
        assert _store(server.port, source) == 0
        (stored,) = _stored(server.folder)
        ds = pydicom.dcmread(stored)
        assert ds.PhotometricInterpretation == "RGB"
        assert "RedPaletteColorLookupTableData" not in ds
        # 16-bit table entries with equal bytes: 8-bit RGB, as DecodePalette decides
        assert ds.BitsAllocated == 8
        assert np.array_equal(ds.pixel_array, (expected >> 8).astype(np.uint8))
        after = run_dgate([f"-p{server.port}", "--display_status:"], server.folder).stdout
        assert "Palettes removed 1" in after
    finally:
        server.stop()
