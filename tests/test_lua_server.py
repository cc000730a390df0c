"""Lua with a running dgate: server commands, servercommand, the network and database
functions against real peers, anonymise/deanonymise, merging, attaching, and a debugger
session over the MobDebug wire protocol (conquest-lua-web.md §3, §6, §9)."""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from conftest import REPO, run_dgate
from debugger_ide import DebuggerIDE
from netpeers import StoreSCP, dcmtk, free_port, have_dcmtk, start_server
from pydicom.data import get_testdata_file

pytestmark = pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is installed by .ci/run")

CT = get_testdata_file("CT_small.dcm")
MR = get_testdata_file("MR_small.dcm")
CT_DS = pydicom.dcmread(CT)
MR_DS = pydicom.dcmread(MR)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("luaserver")
    proc = start_server(folder)
    result = dcmtk("storescu", "-aec", "CONQUESTSRV1", "127.0.0.1", str(proc.port), CT, MR)
    assert result.returncode == 0, result.stderr
    yield proc
    proc.stop()


def cmd(server, text: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return run_dgate([f"-p{server.port}", text], server.folder, timeout=timeout)


def dolua(server, chunk: str, timeout: float = 60) -> str:
    result = run_dgate([f"-p{server.port}", f"--dolua:{chunk}"], server.folder, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


def rows(server, sql: str):
    return sqlite3.connect(server.folder / "data" / "dbase" / "conquest.db3").execute(sql).fetchall()


def test_lua_command_replies(server):
    assert cmd(server, "--lua:return Global.Basedir").stdout == str(server.folder) + "/"
    assert cmd(server, "--lua:return 6*7").stdout == "42"
    got = cmd(server, "--lua:returnfile = tempfile('.txt'); local f = io.open(returnfile, 'wb'); "
                      "f:write('from a file'); f:close(); return 'not this'")
    assert got.stdout == "from a file"
    assert cmd(server, "--lua:Command:SetVR(0x9999, 0x0403, 'override bytes')").stdout == "override bytes"
    assert cmd(server, "--globallua:counter = (counter or 0) + 1; return counter").stdout == "1"
    assert cmd(server, "--globallua:counter = (counter or 0) + 1; return counter").stdout == "2"
    assert cmd(server, "--lua:return tostring(counter)").stdout == "nil"       # a fresh association state
    assert cmd(server, "--lua:return Association.ConnectedIP .. ' ' .. Association.Called").stdout == \
        "127.0.0.1 CONQUESTSRV1"
    # Global writes of dicom.ini keys go to the server as put_param + read_ini
    cmd(server, "--lua:Global.PACSName = 'LUANAME'; Global.NoSuchKeyAtAll = 'x'")
    ini = (server.folder / "dicom.ini").read_text()
    assert "LUANAME" in ini and "NoSuchKeyAtAll" not in ini
    assert cmd(server, "--lua:return Global.PACSName").stdout == "LUANAME"


def test_a_lua_error_leaves_the_server_serving(server):
    assert cmd(server, "--lua:error('deliberate')").stdout == ""
    assert cmd(server, "--lua:x = = 1").stdout == ""
    assert cmd(server, "--lua:return 'still here'").stdout == "still here"
    time.sleep(0.3)
    log = server.output()
    assert "*** lua run error [string \"error('deliberate')\"]:1: deliberate in 'error('deliberate')'" in log
    assert "*** lua syntax error" in log


def test_a_busy_script_does_not_block_other_associations(server, tmp_path):
    marker = tmp_path / "loop_ended"
    started = time.monotonic()
    busy = f"--luastart:local t = os.time() while os.time() - t < 8 do end io.open([[{marker}]], 'w'):close()"
    assert cmd(server, busy).returncode == 0
    assert time.monotonic() - started < 6                       # luastart returns at once
    assert cmd(server, "--lua:return 'answered'").stdout == "answered"
    assert dcmtk("echoscu", "127.0.0.1", str(server.port)).returncode == 0
    assert not marker.exists()                                  # answered while the loop still ran
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists()


def test_servercommand_modes(server, tmp_path):
    out_file = tmp_path / "reply.txt"
    upload = tmp_path / "upload.dcm"
    shutil.copy(MR, upload)
    chunk = (f"print(servercommand('lua:return \"abc \"')..'|')"
             f" print(servercommand('lua:return \"abc \"', 'binary')..'|')"
             f" print(select('#', servercommand('lua:x=1')))"
             f" print(servercommand('lua:return \"ab\\\\0\"'), #servercommand('lua:return \"ab\\\\0\"', 'binary'))"
             f" servercommand('lua:return \"to a file\"', '>{out_file}')"
             f" print(servercommand('lua:return #Command:GetVR(0x9999,0x0402,true)', '<{upload}'))"
             f" servercommand('lua:return \"raw\"', 'cgi') print()")
    lines = dolua(server, chunk).splitlines()
    assert lines[:5] == ["abc|", "abc |", "0", "ab\t2", str(upload.stat().st_size)]
    assert lines[5] == "raw"
    assert out_file.read_text() == "to a file"


def test_network_functions_against_the_server(server, tmp_path):
    dest_port = free_port()
    dest_dir = tmp_path / "received"
    dest_dir.mkdir()
    amap = server.folder / "acrnema.map"
    original_map = amap.read_text()
    amap.write_text(original_map.replace("CONQUESTSRV1", f"LUASCP  127.0.0.1  {dest_port}  un\nCONQUESTSRV1", 1))
    cmd(server, "--read_amap:")
    chunk = f"""
          local e = dicomecho('CONQUESTSRV1'); print('echo', tostring(e), e and e.Status)
          print('echo unknown', tostring(dicomecho('NOSUCHAE')))
          local q = newdicomobject(); q.StudyInstanceUID = ''; q.PatientID = ''
          local r = dicomquery('CONQUESTSRV1', 'STUDY', q)
          print('query', #r, r[0].QueryRetrieveLevel)
          print('query unknown', tostring(dicomquery('NOSUCHAE', 'STUDY', q)))
          local m = newdicomobject(); m.QueryRetrieveLevel = 'STUDY'; m.StudyInstanceUID = '{CT_DS.StudyInstanceUID}'
          print('move', tostring(dicommove('CONQUESTSRV1', 'LUASCP', m)))
          print('move unknown', dicommove('NOSUCHAE', 'LUASCP', m))
          local g = newdicomobject(); g.SeriesInstanceUID = '{MR_DS.SeriesInstanceUID}'
          local got = dicomget('CONQUESTSRV1', 'SERIES', g)
          print('get', #got, got[0].SOPInstanceUID)
          local obj = got[0]:Copy(); obj.PatientID = 'STOREDBYLUA'
          obj.SOPInstanceUID = genuid(); obj.StudyInstanceUID = genuid(); obj.SeriesInstanceUID = genuid()
          local s = dicomstore('CONQUESTSRV1', obj)
          print('store', #s, s[0].Status)
          print('store unknown', dicomstore('127.0.0.1:1', obj))
        """
    try:
        with StoreSCP(dest_dir, "LUASCP", port=dest_port):
            lines = dolua(server, chunk, timeout=120).splitlines()
    finally:
        amap.write_text(original_map)
        cmd(server, "--read_amap:")
    assert lines[0] == "echo\tDicom Data Object\t0"
    assert lines[1] == "echo unknown\tnil"
    assert lines[2] == "query\t2\tSTUDY"
    assert lines[3] == "query unknown\tnil"
    assert lines[4] == "move\tnil"
    assert lines[5] == "move unknown\t***dicommove: AE not found: NOSUCHAE"
    assert lines[6] == f"get\t1\t{MR_DS.SOPInstanceUID}"
    assert lines[7] == "store\t1\t0"
    assert lines[8] == "store unknown\tFailed to connect to host"
    assert len(list(dest_dir.iterdir())) == 1
    assert rows(server, "SELECT PatientID FROM DICOMPatients WHERE PatientID = 'STOREDBYLUA'")


def test_database_functions(server):
    chunk = f"""
      local r = dbquery('DICOMPatients', 'PatientID, PatientNam', '', 'PatientID')
      print('rows', #r, #r[1], r[1][1])
      print('none', #dbquery('DICOMPatients', 'PatientID', "PatientID = 'nobody'"))
      print('two statements', select('#', dbquery('DICOMPatients', 'PatientID', "1=1; DROP TABLE x")))
      print('sql', sql("UPDATE DICOMPatients SET PatientSex = PatientSex"), select('#', sql('SELECT 1; SELECT 2')))
      print('bad sql', tostring((sql('SELECT FROM nowhere'))))
      local old = listoldestpatients(10, 'MAG0')
      print('oldest', #old)
      local q = newdicomobject(); q.SeriesInstanceUID = '{CT_DS.SeriesInstanceUID}'
      local files = dicomread(q)
      print('read', #files, files[0].SOPInstanceUID, files[0].Rows)
      newdicommodify(q, "lua:Data.InstitutionName = 'MODIFIED BY LUA'")
      print('modified', dicomread(q)[0].InstitutionName)
      print('changeuid', changeuid('1.2.3.4') == changeuid('1.2.3.4'), changeuidback(changeuid('1.2.3.4')))
      print('forced', changeuid('9.9', '8.8', 'st'), changeuidback('8.8', 'st'), tostring(changeuidback('7.7')))
      local copy = files[0]:Copy(); copy.SOPInstanceUID = '1.2.826.0.1.3680043.2.135.1066.77.1'; addimage(copy)
      local one = newdicomobject(); one.SOPInstanceUID = '1.2.826.0.1.3680043.2.135.1066.77.1'
      print('added', #dicomread(one))
      newdicomcopy(one, "lua:Data.SOPInstanceUID = '1.2.826.0.1.3680043.2.135.1066.77.2'")
      local two = newdicomobject(); two.SOPInstanceUID = '1.2.826.0.1.3680043.2.135.1066.77.2'
      print('copied', #dicomread(one), #dicomread(two))
      print('deleted', dicomdelete(one), select('#', newdicomdelete(two, 1)), #dicomread(one), #dicomread(two))
      local q2 = newdicomobject(); q2.PatientID = ''
      print('query2', #dicomquery2('CONQUESTSRV1', 'PATIENT', q2))
    """
    lines = dolua(server, chunk).splitlines()
    assert lines[0].startswith("rows\t") and lines[0].endswith("\t2\t1CT1")
    assert lines[1:5] == ["none\t0", "two statements\t0", "sql\t1\t0", "bad sql\tnil"]
    assert lines[5].startswith("oldest\t") and int(lines[5].split("\t")[1]) >= 2
    assert lines[6] == f"read\t1\t{CT_DS.SOPInstanceUID}\t128"
    assert lines[7] == "modified\tMODIFIED BY LUA"
    assert lines[8] == "changeuid\ttrue\t1.2.3.4"
    assert lines[9] == "forced\t8.8\t9.9\tnil"
    assert lines[10:13] == ["added\t1", "copied\t1\t1", "deleted\ttrue\t0\t0\t0"]
    assert lines[13] == f"query2\t{len(rows(server, 'SELECT * FROM DICOMPatients'))}"


def test_anonymize_then_deanonymize_restores_the_object(server):
    before = pydicom.dcmread(CT)
    anonymize = f"--modifier:{before.PatientID},,,,1,lua/anonymize_script.lua(ANON77|trial)"
    assert cmd(server, anonymize).returncode in (0, 255)
    assert not rows(server, f"SELECT * FROM DICOMImages WHERE SOPInstanc = '{before.SOPInstanceUID}'")
    anon_rows = rows(server, "SELECT SOPInstanc, ObjectFile FROM DICOMImages WHERE ImagePat = 'ANON77'")
    assert len(anon_rows) == 1
    anon = pydicom.dcmread(server.folder / "data" / anon_rows[0][1])
    assert anon.PatientName == "ANON^ANON77" and anon.PatientIdentityRemoved == "YES"
    assert anon.SOPInstanceUID != before.SOPInstanceUID and anon.StudyInstanceUID != before.StudyInstanceUID
    assert "InstitutionName" not in anon and anon.get("PatientBirthDate", "") == ""
    assert not [e for e in anon if e.tag.is_private]

    assert cmd(server, "--modifier:ANON77,,,,1,lua/deanonymize_script.lua(trial)").returncode in (0, 255)
    assert not rows(server, "SELECT * FROM DICOMImages WHERE ImagePat = 'ANON77'")
    back_rows = rows(server, f"SELECT ObjectFile FROM DICOMImages WHERE SOPInstanc = '{before.SOPInstanceUID}'")
    assert len(back_rows) == 1
    back = pydicom.dcmread(server.folder / "data" / back_rows[0][0])
    for keyword in ("PatientID", "PatientName", "PatientSex", "StudyInstanceUID", "SeriesInstanceUID",
                    "SOPInstanceUID", "FrameOfReferenceUID", "StudyDescription", "StationName"):
        assert str(back.get(keyword, "")) == str(before.get(keyword, "")), keyword
    assert back.InstitutionName == "MODIFIED BY LUA" or back.InstitutionName == before.InstitutionName
    assert "PatientIdentityRemoved" not in back
    assert back.PixelData == before.PixelData
    # a patient that was never anonymised is refused
    cmd(server, f"--modifier:{MR_DS.PatientID},,,,1,lua/deanonymize_script.lua(trial)")
    assert rows(server, f"SELECT * FROM DICOMImages WHERE SOPInstanc = '{MR_DS.SOPInstanceUID}'")


def test_merge_attach_and_modifyimage(server, tmp_path):
    copy = pydicom.dcmread(MR)
    copy.SeriesInstanceUID = "1.2.826.0.1.3680043.2.135.1066.99.1"
    copy.SOPInstanceUID = "1.2.826.0.1.3680043.2.135.1066.99.2"
    extra = tmp_path / "extra.dcm"
    copy.save_as(extra)
    assert cmd(server, f"--attachfile:{extra},lua:Data.PatientID = '{MR_DS.PatientID}'").returncode in (0, 255)
    assert rows(server, "SELECT * FROM DICOMImages WHERE SOPInstanc = '1.2.826.0.1.3680043.2.135.1066.99.2'")
    cmd(server, f"--mergeseries:{MR_DS.SeriesInstanceUID},{copy.SeriesInstanceUID}")
    series = rows(server, f"SELECT DISTINCT SeriesInst FROM DICOMImages WHERE ImagePat = '{MR_DS.PatientID}'")
    assert len(series) == 1 and series[0][0] not in (MR_DS.SeriesInstanceUID, copy.SeriesInstanceUID)
    assert len(rows(server, f"SELECT * FROM DICOMImages WHERE SeriesInst = '{series[0][0]}'")) == 2
    stored = rows(server, f"SELECT ObjectFile FROM DICOMImages WHERE SeriesInst = '{series[0][0]}'")[0][0]
    path = server.folder / "data" / stored
    assert cmd(server, f"--modifyimage:{path},lua:Data.StudyDescription = 'via modifyimage'").returncode in (0, 255)
    changed = rows(server, f"SELECT ObjectFile FROM DICOMImages WHERE SeriesInst = '{series[0][0]}'")
    assert any(pydicom.dcmread(server.folder / "data" / f).StudyDescription == "via modifyimage" for f, in changed)


def _debug_script(folder: Path, port: int) -> Path:
    shutil.copy(REPO / "tests" / "lua" / "minidebug.lua", folder / "minidebug.lua")
    script = folder / "debugged.lua"
    script.write_text(f"package.path = [[{folder}/?.lua;]] .. package.path\n"
                      f"require('minidebug').start('127.0.0.1', {port})\n"
                      "local x = 10\n"
                      "x = x + 1\n"
                      "local label = 'answer ' .. x\n"
                      "print(label)\n"
                      "require('minidebug').done()\n")
    return script


@pytest.mark.parametrize("entry", ["dolua", "luastart"])
def test_debugger_session(server, tmp_path, entry):
    """Breakpoints, stepping and evaluation from an IDE over the MobDebug protocol."""
    ide = DebuggerIDE()
    script = _debug_script(tmp_path, ide.port)
    import os
    env = dict(os.environ, PYTHONPATH=str(REPO), TCP_NODELAY="1")
    command = f"--dolua:{script}" if entry == "dolua" else f"--luastart:dofile([[{script}]])"
    proc = subprocess.Popen([sys.executable, "-m", "dgate", f"-p{server.port}", command], cwd=server.folder,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ide.accept()
        assert ide.resume("STEP") == (str(script), 4)
        assert ide.setb(str(script), 6) == "200 OK"
        assert ide.resume("RUN") == (str(script), 6)
        status, payload = ide.exec("return x, label")
        assert status.startswith("200 OK") and payload == 'return {"11","answer 11"}'
        status, payload = ide.exec("return nosuch.field")
        assert status.startswith("401 Error in Execution")
        assert ide.resume("RUN") is None
        output = proc.communicate(timeout=30)[0].decode()
    finally:
        ide.close()
        if proc.poll() is None:
            proc.kill()
    if entry == "dolua":
        assert "answer 11" in output
    else:
        time.sleep(0.3)
        assert "answer 11" in server.output()


def test_dicomprint_to_a_print_scp(server):
    """dicomprint against a Basic Grayscale Print Management SCP (pynetdicom)."""
    from pydicom.dataset import Dataset as DS
    from pydicom.sequence import Sequence
    from pydicom.uid import generate_uid
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import BasicGrayscalePrintManagementMeta

    seen: list[str] = []
    images: list = []

    def on_create(event):
        seen.append("create " + str(event.request.AffectedSOPClassUID))
        attrs = event.attribute_list
        attrs.AffectedSOPInstanceUID = generate_uid()     # the SCP assigns it (PS3.7 10.1.5.1.4)
        if str(event.request.AffectedSOPClassUID) == "1.2.840.10008.5.1.1.2":
            boxes = []
            for _ in range(4):
                ref = DS()
                ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.1.4"
                ref.ReferencedSOPInstanceUID = generate_uid()
                boxes.append(ref)
            attrs.ReferencedImageBoxSequence = Sequence(boxes)
            seen.append("format " + str(attrs.ImageDisplayFormat))
        return 0x0000, attrs

    def on_set(event):
        item = event.modification_list.BasicGrayscaleImageSequence[0]
        images.append((item.Rows, item.Columns, len(item.PixelData)))
        return 0x0000, event.modification_list

    def on_action(event):
        seen.append(f"action {event.action_type}")
        return 0x0000, None

    def on_delete(event):
        seen.append("delete")
        return 0x0000

    port = free_port()
    printer = AE(ae_title="PRINTER")
    printer.add_supported_context(BasicGrayscalePrintManagementMeta)
    scp = printer.start_server(("127.0.0.1", port), block=False, evt_handlers=[
        (evt.EVT_N_CREATE, on_create), (evt.EVT_N_SET, on_set), (evt.EVT_N_ACTION, on_action),
        (evt.EVT_N_DELETE, on_delete)])
    try:
        out = dolua(server, f"local a = newdicomarray(); local x = newdicomobject(); x:Read([[{CT}]]); "
                            f"a:Add(x); a:Add(x)"
                            f" print(tostring(dicomprint(a, '127.0.0.1:{port}', 'label', 'FilmOrientation=LANDSCAPE')))"
                            f" print(dicomprint(a, '127.0.0.1:1', '', ''))")
    finally:
        scp.shutdown()
    assert out.splitlines() == ["nil", "Failed to print DICOM image(s)"]
    assert seen == ["create 1.2.840.10008.5.1.1.1", "create 1.2.840.10008.5.1.1.2", "format STANDARD\\1,2",
                    "action 1", "delete"]
    assert images == [(128, 128, 128 * 128)] * 2


def test_lua_commands_obey_server_command_addresses(tmp_path):
    """lua:/luastart:/globallua: come through the command channel and its address check."""
    proc = start_server(tmp_path, ServerCommandAddresses="10.255.255.1")
    try:
        marker = tmp_path / "ran"
        for command in (f"--lua:io.open([[{marker}]], 'w'):close() return 'ran'",
                        f"--luastart:io.open([[{marker}]], 'w'):close()",
                        f"--globallua:io.open([[{marker}]], 'w'):close() return 'ran'"):
            assert cmd(proc, command).stdout == ""
        time.sleep(0.5)
        assert not marker.exists()
        assert "server command refused" in proc.output()
    finally:
        proc.stop()
