"""The [lua] hooks of dicom.ini in a running dgate (hub + workers), observed from real peers
(conquest-lua-web.md §1.3, §1.5, §1.6, §6.3): each hook fires at its moment with the
association's fields, verdicts drop associations, a Lua error in any hook is logged and
the server keeps serving, a busy script blocks only its own association, printserver
replaces the print SCP's saving, network functions work from an association hook."""
from __future__ import annotations

import subprocess
import time

import pydicom
import pytest
import rawdicom as raw
from conftest import run_dgate
from netpeers import DgateProcess, dcmtk, have_dcmtk, start_server
from pydicom.data import get_testdata_file

pytestmark = pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is installed by .ci/run")

CT = get_testdata_file("CT_small.dcm")


def write_line(log, text: str) -> str:
    """Lua that appends one line (``text`` is a Lua expression) to ``log``."""
    return f"local f = io.open([[{log}]], 'a') f:write({text}, '\\n') f:close()"


def lua_section(folder, keys: dict[str, str]) -> None:
    """Append a [lua] section with ``keys``; same-named keys of the default dicom.ini are
    dropped (the first occurrence of a key wins)."""
    ini = folder / "dicom.ini"
    names = {k.lower() for k in keys}
    kept = [line for line in ini.read_text().splitlines() if line.split("=", 1)[0].strip().lower() not in names]
    ini.write_text("\n".join(kept) + "\n[lua]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("luahooks")
    log = folder / "hooks.txt"
    start_server(folder, start=False)
    lua = {
        "startup": "started = 'at startup ' .. Association.Calling .. '/' .. Association.Called",
        "association": write_line(log, "'association ' .. Association.Calling .. ' ' .. Association.Called .. ' ' "
                                       ".. Association.ConnectedIP .. ' ' .. type(Association.Thread)")
        + " seen = Association.Calling"
        " if Association.Calling == 'REFUSED' then reject() end"
        " if Association.Calling == 'BROKEN' then error('broken association hook') end"
        " if Association.Calling == 'BUSY' then local t = os.time() while os.time() - t < 5 do end end"
        " if Association.Calling == 'QUERIER' then"
        "   local q = newdicomobject() q.StudyInstanceUID = '' q.PatientID = ''"
        "   local r = dicomquery('CONQUESTSRV1', 'STUDY', q)"
        "   local e = dicomecho('CONQUESTSRV1')"
        "   " + write_line(log, "'network ' .. #r .. ' ' .. r[0].PatientID .. ' ' .. tostring(e ~= nil) .. ' ' "
                               ".. servercommand('lua:return 6*7')") +
        " end",
        "command": write_line(log, "'command ' .. Command.CommandField .. ' ' .. Association.Calling")
        + " if Association.Calling == 'NOCMD' then destroy() end"
        " if Association.Calling == 'BADCMD' then error('broken command hook') end",
        "endassociation": write_line(log, "'end ' .. Association.Calling")
        + " print('endassociation of', Association.Calling)"
        " if Association.Calling == 'BADEND' then error('broken endassociation hook') end",
        "clienterror": write_line(log, "'clienterror ' .. Command.CommandField .. ' ' .. Association.Calling")
        + " error('broken clienterror hook')",
        "printserver": write_line(log, "'print ' .. command_line .. ' ' .. (Data.ImageDisplayFormat or '-')")
        + " if command_line == 'printbasicfilmbox' then error('broken printserver hook') end",
        "background": "ticks = (ticks or 0) + 1 if ticks == 2 then error('broken background hook') end",
    }
    lua_section(folder, lua)
    proc = DgateProcess(folder)
    proc.hooks = log
    assert dcmtk("storescu", "-aet", "STORER", "-aec", "CONQUESTSRV1", "127.0.0.1", str(proc.port), CT).returncode == 0
    yield proc
    proc.stop()


def lines(server, calling: str | None = None, timeout: float = 0.0) -> list[str]:
    """The hook log (lines naming ``calling`` only, when given)."""
    deadline = time.monotonic() + timeout
    while True:
        text = server.hooks.read_text() if server.hooks.exists() else ""
        got = [line for line in text.splitlines() if calling is None or line.endswith(" " + calling)
               or f" {calling} " in line]
        if got or time.monotonic() >= deadline:
            return got
        time.sleep(0.1)


def wait_for_line(server, line: str, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.hooks.exists() and line in server.hooks.read_text().splitlines():
            return True
        time.sleep(0.05)
    return False


def echo(server, calling: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """echoscu; returncode 1 when it reports a failure (it exits 0 after some)."""
    result = dcmtk("echoscu", "-aet", calling, "-aec", "CONQUESTSRV1", "127.0.0.1", str(server.port), timeout=timeout)
    if "Failed" in result.stderr or "E: " in result.stderr:
        result.returncode = result.returncode or 1
    return result


def cmd(server, text: str) -> str:
    result = run_dgate([f"-p{server.port}", text], server.folder, timeout=60)
    return result.stdout


def test_association_command_and_end_hooks_fire_in_order(server):
    assert echo(server, "ECHOER").returncode == 0
    assert wait_for_line(server, "end ECHOER")
    assert lines(server, "ECHOER") == ["association ECHOER CONQUESTSRV1 127.0.0.1 number", "command 48 ECHOER",
                                       "end ECHOER"]
    time.sleep(0.3)
    assert "endassociation of\tECHOER" in server.output()          # print() goes to the server log
    assert lines(server, "STORER")[:2] == ["association STORER CONQUESTSRV1 127.0.0.1 number", "command 1 STORER"]


def test_verdicts_drop_the_association(server):
    assert echo(server, "REFUSED").returncode != 0        # accepted, then dropped by reject()
    assert echo(server, "NOCMD").returncode != 0          # destroy() in [lua] command: no response
    time.sleep(0.5)
    assert lines(server, "REFUSED") == ["association REFUSED CONQUESTSRV1 127.0.0.1 number"]
    assert lines(server, "NOCMD") == ["association NOCMD CONQUESTSRV1 127.0.0.1 number", "command 48 NOCMD"]
    assert echo(server, "AFTER").returncode == 0


def test_errors_in_every_hook_leave_the_server_serving(server):
    for calling in ("BROKEN", "BADCMD", "BADEND"):
        assert echo(server, calling).returncode == 0, calling
        assert wait_for_line(server, f"end {calling}"), calling
    sock, _ = raw.connect(server.port, [(1, raw.VERIFICATION, [raw.IMPLICIT])], calling="CLIENTERR")
    n_get = raw.command_set({0x00000003: raw.VERIFICATION, 0x00000100: 0x0110, 0x00000110: 9,
                             0x00000800: 0x0101, 0x00001001: "1.2.3"})
    sock.sendall(raw.pdv(1, 0x03, n_get))
    assert raw.status_of(raw.response(sock)) == 0x0211
    echo_rq = raw.command_set({0x00000002: raw.VERIFICATION, 0x00000100: 0x0030, 0x00000110: 10,
                               0x00000800: 0x0101})
    sock.sendall(raw.pdv(1, 0x03, echo_rq))
    assert raw.status_of(raw.response(sock)) == 0        # the association goes on after clienterror
    raw.release(sock)
    assert wait_for_line(server, "end CLIENTERR")
    assert lines(server, "CLIENTERR") == ["association CLIENTERR CONQUESTSRV1 127.0.0.1 number",
                                          "command 272 CLIENTERR", "clienterror 272 CLIENTERR",
                                          "command 48 CLIENTERR", "end CLIENTERR"]
    assert echo(server, "STILLUP").returncode == 0
    log = server.output()
    for what in ("association", "command", "endassociation", "clienterror"):
        assert "*** lua run error [string " in log and f"broken {what} hook" in log, what


def test_startup_and_background_run_in_the_hubs_global_state(server):
    assert cmd(server, "--globallua:return started") == "at startup global/global"
    deadline = time.monotonic() + 10
    while int(cmd(server, "--globallua:return ticks or 0")) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)                 # a second a tick; tick 2 raises the error
    first = int(cmd(server, "--globallua:return ticks"))
    assert first >= 2
    time.sleep(2.2)
    assert int(cmd(server, "--globallua:return ticks")) >= first + 2     # ticking on after its error
    assert "broken background hook" in server.output()


def test_lua_command_runs_in_the_association_state_of_its_worker(server):
    before = len([line for line in lines(server, "CONQUESTSRV1") if line.startswith("association ")])
    assert cmd(server, "--lua:return seen .. ' ' .. Association.Calling") == "CONQUESTSRV1 CONQUESTSRV1"
    after = len([line for line in lines(server, "CONQUESTSRV1") if line.startswith("association ")])
    assert after == before + 1          # [lua] association ran once, in the state the chunk ran in
    assert cmd(server, "--lua:Command:SetVR(0x9999, 0x0403, 'raw reply')") == "raw reply"     # odd length, as sent
    assert cmd(server, "--lua:returnfile = tempfile('.txt') local f = io.open(returnfile, 'wb') "
                       "f:write('file reply') f:close()") == "file reply"


def test_a_busy_association_hook_blocks_only_its_association(server):
    busy = subprocess.Popen(["/usr/bin/echoscu", "-aet", "BUSY", "-aec", "CONQUESTSRV1", "127.0.0.1", str(server.port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for_line(server, "association BUSY CONQUESTSRV1 127.0.0.1 number")
        started = time.monotonic()
        for n in range(3):
            assert echo(server, f"QUICK{n}", timeout=10).returncode == 0
        assert cmd(server, "--lua:return 'answered'") == "answered"
        assert time.monotonic() - started < 4
        assert busy.poll() is None                      # still inside its loop
        assert busy.wait(20) == 0                       # and served once the loop ended
    finally:
        if busy.poll() is None:
            busy.kill()


def test_network_functions_from_an_association_hook(server):
    assert echo(server, "QUERIER").returncode == 0
    patient = pydicom.dcmread(CT).PatientID
    assert wait_for_line(server, f"network 1 {patient} true 42", timeout=20), lines(server)


def test_printserver_replaces_the_print_scp_actions(server):
    from dgate.config.acrnema import Address
    from dgate.net.print_scu import dicomprint
    printer = server.folder / "data" / "printer_files"
    saved_before = set(printer.glob("*.dcm")) if printer.exists() else set()
    films = dicomprint("PRINTSCU", Address("CONQUESTSRV1", "127.0.0.1", server.port, "un"),
                       [pydicom.dcmread(CT)], "", "ImageDisplayFormat=STANDARD\\1,1")
    assert films == 1
    assert wait_for_line(server, "end PRINTSCU")
    got = [line for line in lines(server) if line.startswith("print ")]
    assert got[0] == "print creatingbasicfilmsession -"
    assert got[1] == "print createbasicfilmbox STANDARD\\1,1"
    assert got[2].startswith("print ") and got[2].endswith(".dcm -") and "printer_files" in got[2]
    assert got[3:] == ["print printbasicfilmbox -", "print deletebasicfilmsession -"]
    saved_after = set(printer.glob("*.dcm")) if printer.exists() else set()
    assert saved_after == saved_before                  # the hook replaced the saving
    assert "broken printserver hook" in server.output()
    assert echo(server, "AFTERPRINT").returncode == 0


def test_single_process_server_runs_the_same_hooks(tmp_path):
    """``-b``: the hooks in the hub process itself; errors in startup and background."""
    log = tmp_path / "single.txt"
    start_server(tmp_path, start=False)
    lua_section(tmp_path, {"association": write_line(log, "'association ' .. Association.Calling"),
                           "endassociation": write_line(log, "'end ' .. Association.Calling"),
                           "startup": "started = 1 error('broken startup hook')", "background": "x = = 1"})
    proc = DgateProcess(tmp_path, args=["-b"])
    try:
        assert dcmtk("echoscu", "-aet", "SINGLE", "-aec", "CONQUESTSRV1", "127.0.0.1", str(proc.port)).returncode == 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "end SINGLE" not in (log.read_text() if log.exists() else ""):
            time.sleep(0.05)
        assert log.read_text().splitlines() == ["association SINGLE", "end SINGLE"]
        time.sleep(1.2)
        output = proc.output()
        assert "*** lua syntax error [string \"x = = 1\"]" in output     # background, every second
        # startup ran up to its error (logged before -v applies, as the original) and the server serves
        assert cmd(proc, "--globallua:return started") == "1"
    finally:
        proc.stop()


def test_network_functions_in_every_server_state(server, tmp_path):
    """The same chunk in a lua: command (a worker's association state), globallua: (the
    hub's global state) and luastart: (a worker thread): echo, query, move, get, store and
    print against the server itself and a storescp."""
    from netpeers import StoreSCP, free_port
    ct = pydicom.dcmread(CT)
    dest_port = free_port()
    dest_dir = tmp_path / "received"
    dest_dir.mkdir()
    amap = server.folder / "acrnema.map"
    original_map = amap.read_text()
    amap.write_text(original_map.replace("CONQUESTSRV1", f"LUASCP  127.0.0.1  {dest_port}  un\nCONQUESTSRV1", 1))
    cmd(server, "--read_amap:")
    out = tmp_path / "luastart.txt"
    chunk = ("local e = dicomecho('CONQUESTSRV1') "
             "local q = newdicomobject() q.StudyInstanceUID = '' q.PatientID = '' "
             "local r = dicomquery('CONQUESTSRV1', 'STUDY', q) "
             f"local m = newdicomobject() m.QueryRetrieveLevel = 'STUDY' m.StudyInstanceUID = '{ct.StudyInstanceUID}' "
             "local mv = dicommove('CONQUESTSRV1', 'LUASCP', m) "
             f"local g = newdicomobject() g.SeriesInstanceUID = '{ct.SeriesInstanceUID}' "
             "local got = dicomget('CONQUESTSRV1', 'SERIES', g) "
             "local obj = got[0]:Copy() obj.PatientID = 'STOREDBY' .. Association.Calling "
             "obj.SOPInstanceUID = genuid() obj.StudyInstanceUID = genuid() obj.SeriesInstanceUID = genuid() "
             "local s = dicomstore('CONQUESTSRV1', obj) "
             "local p = dicomprint(got[0], 'CONQUESTSRV1', '', '') "
             "return e.Status .. ' ' .. #r .. ' ' .. tostring(mv) .. ' ' .. #got .. ' ' .. s[0].Status "
             ".. ' ' .. tostring(p)")
    try:
        with StoreSCP(dest_dir, "LUASCP", port=dest_port):
            assert cmd(server, "--lua:" + chunk) == "0 1 nil 1 0 nil"
            assert cmd(server, "--globallua:" + chunk) == "0 2 nil 1 0 nil"
            cmd(server, f"--luastart:local f = io.open([[{out}]], 'w') f:write((function() {chunk} end)()) f:close()")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (out.exists() and out.read_text()):
                time.sleep(0.1)
            assert out.read_text() == "0 3 nil 1 0 nil"
    finally:
        amap.write_text(original_map)
        cmd(server, "--read_amap:")
    assert [p.name for p in dest_dir.iterdir()] == [f"CT.{ct.SOPInstanceUID}"]     # moved (3 times)


def test_luastart_returns_at_once_and_endassociation_follows_its_chunk(server):
    started = time.monotonic()
    chunk = "started_in = seen sleep(4000) " + write_line(server.hooks, "'luastart done ' .. started_in")
    cmd(server, "--luastart:" + chunk)
    assert time.monotonic() - started < 3      # a command round trip takes ~1 s on a slow machine; the chunk 4
    assert wait_for_line(server, "luastart done CONQUESTSRV1")
    assert wait_for_line(server, "end CONQUESTSRV1")
    tail = server.hooks.read_text().splitlines()
    done = tail.index("luastart done CONQUESTSRV1")
    assert "end CONQUESTSRV1" in tail[done + 1:]           # the state's endassociation ran after the chunk


def test_a_hook_that_never_ends_blocks_neither_others_nor_the_stop(tmp_path):
    start_server(tmp_path, start=False)
    lua_section(tmp_path, {"association": "if Association.Calling == 'FOREVER' then while true do end end"})
    proc = DgateProcess(tmp_path)
    stuck = subprocess.Popen(["/usr/bin/echoscu", "-aet", "FOREVER", "-aec", "CONQUESTSRV1", "127.0.0.1",
                              str(proc.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        assert stuck.poll() is None
        for n in range(4):                               # every worker, also the looping one
            assert dcmtk("echoscu", "-aet", f"OTHER{n}", "127.0.0.1", str(proc.port), timeout=10).returncode == 0
        assert cmd(proc, "--lua:return 'served'") == "served"
        started = time.monotonic()
        proc.proc.terminate()
        assert proc.proc.wait(15) is not None
        assert time.monotonic() - started < 12
    finally:
        stuck.kill()
        proc.stop()
