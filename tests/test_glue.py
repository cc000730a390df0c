"""The capabilities calling each other, end to end on real objects, real files and real
peers: the converter language ↔ Lua, the codec from converters and Lua, Serialize,
forwarding through the codec, WADO and zip/move scripts, delayed merge."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
from conftest import run_dgate
from convhelpers import ListSink, ct, mr
from netpeers import free_port, have_dcmtk
from pydicom.data import get_testdata_file

from dgate import codec
from dgate.codec import syntaxes as ts
from dgate.config import Configuration
from dgate.config.defaults import create_default_config
from dgate.config.ini import put_param
from dgate.convert import ConvertContext, Converters
from dgate.log import Logs
from dgate.luabind import states
from dgate.luabind.context import LuaContext, LuaServices
from dgate.luabind.handles import Handle, mark_file_object
from dgate.luabind.runtime import LuaState

CT = get_testdata_file("CT_small.dcm")
J2K = get_testdata_file("JPEG2000.dcm")
PALETTE = get_testdata_file("OBXXXX1A.dcm")


def make_folder(tmp: Path, lua: str = "", **params: str) -> tuple[Configuration, Logs, ListSink]:
    tmp.mkdir(parents=True, exist_ok=True)
    create_default_config(tmp)
    for key, value in params.items():
        put_param(tmp / "dicom.ini", key, value)
    if lua:
        ini = tmp / "dicom.ini"
        ini.write_text(ini.read_text() + "\n[lua]\n" + lua + "\n")
    assert run_dgate(["-i"], tmp).returncode == 0
    config = Configuration.open(tmp)
    logs = Logs()
    sink = ListSink()
    logs.operator.send_to(sink)
    states.configure(LuaServices(config=config, logs=logs))
    return config, logs, sink


@pytest.fixture(autouse=True)
def reset_lua():
    yield
    states.configure(LuaServices())
    codec.set_compression_converter(None)


# -- converter language → Lua --------------------------------------------------------------
def test_lua_statements_in_import_converters_change_the_object(tmp_path):
    config, logs, sink = make_folder(
        tmp_path,
        ImportConverter0="""lua "Data.StationName = 'FROM LUA'; Data.x = Data.Modality; seen = (seen or 0) + 1\"""",
        ImportConverter1='set 0008,1030 to "%V0008,1010 %x"; ifequal "%m","MR"; lua:destroy()',
        ImportConverter2="lua:Data.Storage = 'MAG1'; Data.PatientComments = 'import ' .. seen")
    converters = Converters(config, logs)
    session_state = LuaState(states.services(), "association")     # the association's state
    ctx = ConvertContext(config, logs, calling="MOD", called="CONQUESTSRV1", lua_state=session_state)
    ds = ct()
    verdict = converters.run_import(ds, ctx)
    assert ds.StationName == "FROM LUA" and ds.StudyDescription == "FROM LUA CT"   # Lua's change and %x seen
    assert not verdict.destroyed and verdict.storage == "MAG1" and ds.PatientComments == "import 1"
    other = mr()
    assert converters.run_import(other, ConvertContext(config, logs, calling="MOD", lua_state=session_state)).destroyed
    assert session_state.run("return seen") == "2"                # globals live as long as the association


def test_lua_file_with_arguments_and_export_defer(tmp_path):
    script = tmp_path / "mark.lua"
    script.write_text("Data.PatientComments = command_line .. ' ' .. version\n"
                      "if command_line == 'no' then reject() end")
    config, logs, _ = make_folder(tmp_path, ImportConverter0="mark.lua(%m)")
    converters = Converters(config, logs)
    ds = ct()
    verdict = converters.run_import(ds, ConvertContext(config, logs))
    assert verdict.ran and not verdict.rejected and ds.PatientComments.startswith("CT 1.5.0")
    put_param(tmp_path / "dicom.ini", "ImportConverter0", "mark.lua(no)")
    config.ini.refresh(force=True)
    assert converters.run_import(ct(), ConvertContext(config, logs)).rejected
    # an export line's lua statement defers through script('defer'): the queue retries later
    from dgate.convert.queues import run_export_line
    path = tmp_path / "obj.dcm"
    ct().save_as(path, enforce_file_format=True)
    ectx = ConvertContext(config, logs, family="Export", number=3, file_name=str(path))
    assert run_export_line('lua "n = (n or 0) + 1; if n > 1 then script(\'defer\') end"', ectx, str(path)) is False
    assert run_export_line('lua "n = (n or 0) + 1; if n > 1 then script(\'defer\') end"', ectx, str(path)) is True
    assert states.export_state(3).run("return n") == "2"         # ExportConverter3's own state


# -- Lua → converter language ----------------------------------------------------------------
def test_script_from_lua_runs_converter_statements(tmp_path):
    config, logs, _ = make_folder(tmp_path)
    state = LuaState(states.services(), "association")
    ds = ct()
    old_sop = ds.SOPInstanceUID
    ctx = LuaContext("CALLER", "ME")
    state.run("""script('set 0008,1030 to "by script %u"; newuids; lua:inner = Data.StudyDescription')
                 script(Data, 'set 0010,4000 to "second form"')""", ctx, Handle(ds))
    assert ds.StudyDescription == "by script CALLER" and ds.PatientComments == "second form"
    assert ds.SOPInstanceUID != old_sop                               # newuids ran (UIDMODS in the database)
    assert state.run("return inner") == "by script CALLER"            # lua: inside script() ran in this state
    for text, rc in (("destroy", 2), ("reject", 6), ("defer", 8), ("nop x", 1)):
        verdict = LuaContext()
        state.run(f"script('{text}')", verdict, Handle(ct()))
        assert verdict.rc == rc, text


def test_script_from_a_lua_converter_shares_the_converter_call(tmp_path):
    config, logs, _ = make_folder(tmp_path,
                                  lua="ImportConverter0 = Data.x = 'shared'; script('set 0010,4000 to \"%x %m\"')")
    ctx = ConvertContext(config, logs, calling="MOD")
    ds = ct()
    Converters(config, logs).run_import(ds, ctx)
    assert ds.PatientComments == "shared CT" and ctx.variables["x"] == "shared"


# -- codec from Lua and converters -----------------------------------------------------------
def test_compress_from_lua_goes_through_the_codec(tmp_path):
    config, logs, _ = make_folder(tmp_path)
    state = LuaState(states.services(), "association")
    ds = mark_file_object(pydicom.dcmread(CT))
    out_j2, out_jk = tmp_path / "j2.dcm", tmp_path / "jk.dcm"
    state.run(f"local c = Data:Compress('j2'); c:Write([[{out_j2}]]); compressdicom(Data, 'jk'):Write([[{out_jk}]])",
              LuaContext(), Handle(ds))
    j2, jk = pydicom.dcmread(out_j2), pydicom.dcmread(out_jk)
    assert j2.file_meta.TransferSyntaxUID == ts.JPEG_LOSSLESS and jk.file_meta.TransferSyntaxUID == ts.J2K_LOSSLESS
    assert np.array_equal(j2.pixel_array, ds.pixel_array) and np.array_equal(jk.pixel_array, ds.pixel_array)
    palette = pydicom.dcmread(PALETTE)
    out_un = tmp_path / "un.dcm"
    state.run(f"Data:Compress('un'):Write([[{out_un}]])", LuaContext(), Handle(palette))
    un = pydicom.dcmread(out_un)
    assert un.PhotometricInterpretation == "RGB" and un.SamplesPerPixel == 3     # the codec's palette fix
    assert state.run("return tostring(Data:Compress('zz'))", LuaContext(), Handle(ds)) == "nil"


def test_getpixel_on_nki_data_through_codec_readable(tmp_path):
    make_folder(tmp_path)
    state = LuaState(states.services(), "association")
    original = pydicom.dcmread(CT)
    nki = codec.recompress(pydicom.dcmread(CT), "n4")
    assert "PixelData" not in nki and 0x7FDF0010 in nki
    value = state.run("return Data:GetPixel(10, 20)", LuaContext(), Handle(nki))
    assert int(value) == int(original.pixel_array[20, 10]) & 0xFFFF


def test_s_codes_run_compression_converters(tmp_path):
    from dgate.convert.routing import Routing
    config, logs, _ = make_folder(tmp_path, lua="CompressionConverter1 = Data.StudyDescription = 'lua s1'",
                                  CompressionConverter0='set 0008,1030 to "s0 ran"; compression j2')
    codec.set_compression_converter(None)
    lines: list[str] = []
    assert codec.recompress(ct(), "s0", log=lines.append).get("StudyDescription") != "s0 ran"
    assert "CompressionConverter0 cannot run" in "".join(lines)
    Routing(config, logs, port=free_port())                       # a Routing registers the runner
    ds = codec.recompress(ct(), "s0")
    assert ds.StudyDescription == "s0 ran" and ds.file_meta.TransferSyntaxUID == ts.JPEG_LOSSLESS
    assert codec.recompress(ct(), "s1").StudyDescription == "lua s1"


def test_forward_and_compression_use_the_codec(tmp_path):
    """``compression`` and ``forward compressed as`` with LossyQuality; sequences survive
    a change of VR encoding (they kept explicit VR inside implicit VR data before)."""
    config, logs, _ = make_folder(tmp_path, ImportConverter0="compression j2")
    ds = ct()
    Converters(config, logs).run_import(ds, ConvertContext(config, logs))
    assert ds.file_meta.TransferSyntaxUID == ts.JPEG_LOSSLESS
    assert np.array_equal(ds.pixel_array, ct().pixel_array)
    from dgate.convert.recompress import for_peer
    implicit = for_peer(ct(), [ts.IMPLICIT_LE], "un")
    buffer = io.BytesIO()
    implicit.save_as(buffer, enforce_file_format=True)
    back = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    assert back.file_meta.TransferSyntaxUID == ts.IMPLICIT_LE
    assert [item.PatientID for item in back.OtherPatientIDsSequence] == ["ABCD1234", "1234ABCD"]


@pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is installed by .ci/run")
@pytest.mark.parametrize("code,preference,syntax", [("jk", "+xv", ts.J2K_LOSSLESS),
                                                          ("j2", "+xs", ts.JPEG_LOSSLESS_SV1)])
def test_forward_compressed_to_a_dcmtk_storescp(tmp_path, code, preference, syntax):
    from netpeers import StoreSCP

    from dgate.convert.routing import Routing
    port = free_port()
    received = tmp_path / "received"
    received.mkdir()
    with StoreSCP(received, "PEER", preference, port=port):
        config, logs, sink = make_folder(tmp_path / "a", ImportConverter0=f"forward compressed as {code} to PEER")
        (tmp_path / "a" / "acrnema.map").write_text(f"PEER              127.0.0.1 {port:<10} un\n")
        config.reload_amap()
        routing = Routing(config, logs, port=free_port())
        ds = ct()
        routing.converters.run_import(ds, routing.context(calling="MOD", called="CONQUESTSRV1"))
        routing.forwarder.close_all()
        files = sorted(received.iterdir())
        assert len(files) == 1, sink.text()
        got = pydicom.dcmread(files[0])
        assert got.file_meta.TransferSyntaxUID == syntax                     # dcmtk received what the codec made
        assert np.array_equal(got.pixel_array, ct().pixel_array)             # lossless
        assert ds.file_meta.TransferSyntaxUID == ct().file_meta.TransferSyntaxUID   # the stored object unchanged


# -- Serialize -------------------------------------------------------------------------------
def test_convert_to_json_is_the_lua_serializer(tmp_path):
    from dgate.commands import dispatch
    from dgate.commands.context import CommandContext
    config, logs, _ = make_folder(tmp_path)
    ctx = CommandContext(config, logs, "CONQUESTSRV1", 0)
    state = LuaState(states.services(), "global")
    for path in (CT, J2K):
        for pixels in (False, True):
            fields = ",0,,0,1" if pixels else ""
            command = dispatch(ctx, f"convert_to_json:{path}{fields}").decode("latin-1")
            lua = state.run(f"local d = DicomObject:new(); d:Read([[{path}]]); "
                            f"return d:Serialize(true, {str(pixels).lower()})")
            assert command == lua
            cli = run_dgate([f"-j{'j' if pixels else 's'}{path}"], tmp_path).stdout
            assert cli == lua
    # as 1.5.0e: encapsulated pixel data is "" with or without pixels; values the codec changed
    # keep their pad (NumberOfFrames "1 " after decompression), checked against the original
    assert json.loads(dispatch(ctx, f"convert_to_json:{J2K},0,,0,1"))["PixelData"] == ""
    assert json.loads(dispatch(ctx, f"convert_to_json:{J2K},0,un,0,0"))["NumberOfFrames"] == "1 "
    assert json.loads(dispatch(ctx, f"convert_to_json:{CT},64,un,0,0"))["PixelSpacing"] == "1.32294\\1.32294 "
    ctx.close()


# -- delayed merge study ---------------------------------------------------------------------
def test_delayed_merge_study_merges_the_series(tmp_path):
    from dgate.convert.delayed import DelayedOp, DelayedQueue, _merge
    from dgate.db import open_database
    from dgate.luabind.archive import store_dataset
    config, logs, sink = make_folder(tmp_path, MergeSeriesConverter0='set 0008,103e to "merged"')
    state = LuaState(states.services(), "store")
    first = ct()
    second = ct()
    second.SeriesInstanceUID = first.SeriesInstanceUID + ".2"
    second.SOPInstanceUID = first.SOPInstanceUID + ".2"
    for ds in (first, second):
        assert store_dataset(state, ds)
    queue = DelayedQueue(config, logs, folder=tmp_path)
    _merge(queue, DelayedOp("merge", level="study", patient_id=first.PatientID, study=first.StudyInstanceUID,
                            script='set 0010,4000 to "after merge"'))
    with open_database(config) as db:
        rows = db.find("SERIES", _series_query(first.StudyInstanceUID))
        files = db.images(study_uid=first.StudyInstanceUID)
    assert len(rows) == 1 and len(files) == 2, sink.text()
    from dgate.store.devices import locate
    for row in files:
        merged = pydicom.dcmread(locate(config.settings, row.device, row.object_file))
        assert merged.SeriesDescription == "merged" and merged.PatientComments == "after merge"


def _series_query(study: str):
    q = pydicom.Dataset()
    q.QueryRetrieveLevel = "SERIES"
    q.StudyInstanceUID = study
    q.SeriesInstanceUID = ""
    return q


# -- web: WADO anonymize, zip and move scripts -----------------------------------------------
@pytest.fixture
def web(tmp_path):
    from webhelpers import WebServer
    (tmp_path / "web").mkdir()
    server = WebServer(tmp_path / "web")
    try:
        yield server
    finally:
        server.stop()


def _store_ct(web) -> pydicom.Dataset:
    ds = pydicom.dcmread(CT)
    files = {"file": ("ct.dcm", open(CT, "rb").read(), "application/dicom")}
    body = b"".join([b"--B\r\nContent-Type: application/dicom\r\n\r\n", files["file"][1], b"\r\n--B--\r\n"])
    r = requests.post(web.url + "/dicom-web/studies", data=body,
                      headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=B'})
    assert r.status_code == 200, r.text
    return ds


def test_wado_anonymize_runs_the_shipped_lua_anonymizer(web):
    ds = _store_ct(web)
    q = {"requestType": "WADO", "studyUID": ds.StudyInstanceUID, "seriesUID": ds.SeriesInstanceUID,
         "objectUID": ds.SOPInstanceUID, "contentType": "application/dicom"}
    r = requests.get(web.url + "/wado", params={**q, "anonymize": "WEBANON"})
    assert r.status_code == 200, r.text
    anon = pydicom.dcmread(io.BytesIO(r.content))
    assert anon.PatientID == "WEBANON" and anon.SOPInstanceUID != ds.SOPInstanceUID
    assert np.array_equal(anon.pixel_array, ds.pixel_array)
    (web.folder / "anonymize_script.cq").write_text('set PatientName to "CQ^ANON"\n')
    r = requests.get(web.url + "/wado", params={**q, "anonymize": "yes", "contentType": "text/plain"})
    assert r.status_code == 200 and '"CQ^ANON "' in r.text
    r = requests.get(web.url + "/wado", params={**q, "contentType": "image/jpeg", "region": "0,0,0.5,0.5",
                                                "anonymize": "yes"})
    from PIL import Image
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (65, 65)  # Conquest's crop: ends in


def test_wadorequest_anonymize_runs_the_anonymizer(tmp_path):
    """wadorequest:/wadoparse: anonymize after the region crop, before the reply is made
    (dgate.cpp wadorequest); no reply when the anonymizer is not installed."""
    from dgate.commands import dispatch
    from dgate.commands.context import CommandContext
    config, logs, sink = make_folder(tmp_path)
    ctx = CommandContext(config, logs, "CONQUESTSRV1", 0)
    try:
        dispatch(ctx, f"addimagefile:{CT}")
        ds = pydicom.dcmread(CT)
        obj = f"{ds.StudyInstanceUID}\\{ds.SeriesInstanceUID}\\{ds.SOPInstanceUID}"
        out = dispatch(ctx, f"wadorequest:{obj},0/0/0/0,0/0,,application/dicom,,WADOANON,,")
        assert out is not None, sink.text()
        anon = pydicom.dcmread(io.BytesIO(out.partition(b"\n\n")[2]))
        assert anon.PatientID == "WADOANON" and anon.SOPInstanceUID != ds.SOPInstanceUID
        assert np.array_equal(anon.pixel_array, ds.pixel_array)
        text = dispatch(ctx, f"wadoparse:studyUID={ds.StudyInstanceUID}&seriesUID={ds.SeriesInstanceUID}"
                             f"&objectUID={ds.SOPInstanceUID}&contentType=text/plain&anonymize=WADOANON")
        assert text is not None and b'"WADOANON"' in text and ds.PatientID.encode() not in text
        assert len(text) % 2 == 0
        assert dispatch(ctx, f"wadorequest:{obj},0/0/0/0,0/0,,image/jpeg,,yes,,") is None
        assert "anonymize_script.cq is not installed" in sink.text()
        (tmp_path / "anonymize_script.cq").write_text("destroy\n")
        assert dispatch(ctx, f"wadorequest:{obj},0/0/0/0,0/0,,image/jpeg,,yes,,") is None
        assert "refused this object" in sink.text()
        (tmp_path / "anonymize_script.cq").write_text('set PatientName to "CQ^ANON"\n')
        jpeg = dispatch(ctx, f"wadorequest:{obj},0/0/0/0,0/0,0/0.5/0/0.5,image/jpeg,,yes,,")
        assert jpeg is not None and jpeg.startswith(b"Content-type: image/jpeg\nAccess-Control-Allow-Origin:*\n\n")
        from PIL import Image
        assert Image.open(io.BytesIO(jpeg.partition(b"\n\n")[2])).size == (65, 65)
    finally:
        ctx.close()


@pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is installed by .ci/run")
def test_zip_and_move_with_script(web, tmp_path):
    from netpeers import StoreSCP
    ds = _store_ct(web)
    base = f"{web.url}/api/dicom/rs/studies/{ds.StudyInstanceUID}"
    r = requests.get(base + "/zip", params={"script": "lua:Data.PatientName = 'ZIP^LUA'"})
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert pydicom.dcmread(io.BytesIO(zf.read(f"{ds.SOPInstanceUID}.dcm"))).PatientName == "ZIP^LUA"
    r = requests.get(base + "/zip", params={"script": "destroy"})
    assert r.status_code == 200 and zipfile.ZipFile(io.BytesIO(r.content)).namelist() == []
    port = free_port()
    received = tmp_path / "moved"
    received.mkdir()
    with StoreSCP(received, "PEER", "+xv", port=port):
        with open(web.folder / "acrnema.map", "a") as amap:
            amap.write(f"PEER              127.0.0.1 {port:<10} jk\n")
        web.config.reload_amap()
        r = requests.get(base + "/move", params={"target": "PEER", "script": 'set PatientName to "MOVED"'})
        assert r.status_code == 200 and r.json() == ""
        got = pydicom.dcmread(sorted(received.iterdir())[0])
        assert got.PatientName == "MOVED" and got.file_meta.TransferSyntaxUID == ts.J2K_LOSSLESS


# -- HL7 files dropped into the server ---------------------------------------------------------
def test_hl7_files_through_addimagefile_and_the_incoming_folder(tmp_path):
    from dgate.commands import dispatch
    from dgate.commands.context import CommandContext
    from dgate.db import open_database
    from dgate.store.dropped import FolderWatcher
    from dgate.store.ingest import Ingest
    config, logs, sink = make_folder(tmp_path)
    order = ("MSH|^~\\&|HIS|H|DGATE|D|20240101120000||ORM^O01|MSG{n}|P|2.3|\r"
             "PID|1||PAT{n}||Doe^Jane||19700101|F|\r"
             "OBR|1||ACC{n}|CT1^CT HEAD|||20240102||||||||||||||||CT|\r")
    first = tmp_path / "orders.hl7"
    first.write_text(order.format(n=1))
    ctx = CommandContext(config, logs, "CONQUESTSRV1", 0)
    dispatch(ctx, f"addimagefile:{first}")
    ctx.close()
    incoming = tmp_path / "data" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    (incoming / "more.hl7").write_text(order.format(n=2))
    import os
    import time
    os.utime(incoming / "more.hl7", (time.time() - 5, time.time() - 5))
    watcher = FolderWatcher([incoming], Ingest(config, logs), "CONQUESTSRV1")
    assert watcher.scan(incoming) == 1
    with open_database(config) as db:
        wl = db.schema.worklist
        ids = sorted(r[0] for r in db.sql(f"SELECT AccessionN FROM {wl.name}"))
    assert ids == ["ACC1", "ACC2"], sink.text()
    assert "loaded HL7 file" in sink.text() and not (incoming / "more.hl7").exists()


def test_addimagefile_of_uploaded_bytes(tmp_path):
    """addimagefile with uploaded bytes (9999,0402): stored from a temporary file with the
    name's extension (so an uploaded .hl7 goes to the worklist), the file removed after,
    also when the bytes are refused (reply 1)."""
    import tempfile

    from dgate.commands import dispatch
    from dgate.commands.context import CommandContext
    from dgate.db import open_database
    config, logs, sink = make_folder(tmp_path)
    before = set(Path(tempfile.gettempdir()).glob("upload*"))
    order = ("MSH|^~\\&|HIS|H|DGATE|D|20240101120000||ORM^O01|MSG9|P|2.3|\r"
             "PID|1||PAT9||Doe^Jane||19700101|F|\r"
             "OBR|1||ACC9|CT1^CT HEAD|||20240102||||||||||||||||CT|\r")
    replies = []
    for name, data in (("x.dcm", open(CT, "rb").read()), ("y.dcm", b"not dicom"), ("z.hl7", order.encode())):
        ctx = CommandContext(config, logs, "CONQUESTSRV1", 0, upload=data)
        try:
            replies.append(dispatch(ctx, f"addimagefile:{name}"))
        finally:
            ctx.close()
    assert replies == [b"0", b"1", b"0"], sink.text()
    with open_database(config) as db:
        assert db.get_file(str(pydicom.dcmread(CT).SOPInstanceUID)) is not None
        assert [r[0] for r in db.sql(f"SELECT AccessionN FROM {db.schema.worklist.name}")] == ["ACC9"]
    assert set(Path(tempfile.gettempdir()).glob("upload*")) - before == set()


def test_conquest_script_endpoints(web):
    ct_bytes = open(CT, "rb").read()
    rs = web.url + "/api/dicom/rs"
    r = requests.post(rs + "/script", data={"script": "return Global.MyACRNema .. ' ' .. (1 + 2)"})
    assert r.status_code == 200 and r.text == "CONQUESTSRV1 3" and r.headers["content-type"] == "application/json"
    assert requests.post(rs + "/script", data={}).status_code == 400
    r = requests.post(rs + "/attachdicom", data={"script": "return Data.PatientID .. '|' .. Data.Modality"},
                      files={"file": ("ct.dcm", ct_bytes, "application/dicom")})
    assert r.status_code == 200 and r.text == "1CT1|CT"
    r = requests.post(rs + "/attach", params={"script": 'set PatientID to "ATTACHED"'}, data=ct_bytes,
                      headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200 and r.json() == 1, r.text
    other = pydicom.dcmread(CT)
    other.SOPInstanceUID = other.file_meta.MediaStorageSOPInstanceUID = other.SOPInstanceUID + ".7"
    other.StudyInstanceUID += ".7"                 # a study of its own: ZIPATTACH is another patient
    other.SeriesInstanceUID += ".7"
    other_bytes = io.BytesIO()
    other.save_as(other_bytes, enforce_file_format=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("a/ct.dcm", other_bytes.getvalue())
        zf.writestr("readme.txt", b"not dicom")
    r = requests.post(rs + "/attach", files={"upload": ("set.zip", buffer.getvalue(), "application/zip")},
                      data={"script": "lua:Data.PatientID = 'ZIPATTACH'"})
    assert r.status_code == 200 and r.json() == 1, r.text
    from dgate.db import open_database
    with open_database(web.config) as db:
        ids = sorted(row.patient_id for row in db.images())
    assert "ATTACHED" in ids and "ZIPATTACH" in ids
    assert requests.post(rs + "/attach", data=b"not dicom", headers={"Content-Type": "application/dicom"}
                         ).status_code == 422
    r = requests.post(rs + "/startscript", data={"script": "progress(40); while not stop do "
                                                           "stop = io.open([[%s]]) end" % (web.folder / "stop")})
    uid = r.json()
    import time
    deadline = time.monotonic() + 10
    while requests.get(f"{rs}/startscript/{uid}").json() != 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert requests.get(f"{rs}/startscript/{uid}").json() == 40
    (web.folder / "stop").write_text("")
    while requests.get(f"{rs}/startscript/{uid}").json() != 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert requests.get(f"{rs}/startscript/{uid}").json() == 100       # finished


def test_lua_global_codec_counters(tmp_path):
    from dgate.store.ingest import counters
    make_folder(tmp_path)
    state = LuaState(states.services(), "association")
    before = int(state.run("return Global.DePaletted"))
    codec.recompress(pydicom.dcmread(PALETTE), "un", counters=counters)
    assert int(state.run("return Global.DePaletted")) == before + 1
