"""The [lua] hooks as the server will call them, on real objects, a real configuration and
database (conquest-lua-web.md §1.5, §1.6), and ``lua:`` file names."""
from __future__ import annotations

import pydicom
import pytest
from conftest import run_dgate
from pydicom.data import get_testdata_file

from dgate.config import Configuration
from dgate.config.defaults import create_default_config
from dgate.config.ini import put_param
from dgate.luabind import hooks, naming, states
from dgate.luabind.context import LuaServices
from dgate.luabind.hooks import AssociationInfo, AssociationLua

CT = get_testdata_file("CT_small.dcm")


def lua_section(folder, text: str) -> None:
    """Append a [lua] section; same-named keys already in the file are dropped (the
    first occurrence of a key wins in dicom.ini)."""
    ini = folder / "dicom.ini"
    keys = {line.split("=", 1)[0].strip().lower() for line in text.splitlines() if "=" in line}
    kept = [line for line in ini.read_text().splitlines() if line.split("=", 1)[0].strip().lower() not in keys]
    ini.write_text("\n".join(kept) + "\n[lua]\n" + text + "\n")


@pytest.fixture
def folder(tmp_path):
    create_default_config(tmp_path)
    assert run_dgate(["-i"], tmp_path).returncode == 0
    yield tmp_path
    states.configure(LuaServices())


def configure(folder):
    config = Configuration.open(folder)
    states.configure(LuaServices(config=config))
    return config


def test_association_hooks_fire_and_verdicts(folder, tmp_path):
    log = tmp_path / "hooks.txt"
    lua_section(folder, f"association = f = io.open([[{log}]], 'a') f:write('start ', Association.Calling, '\\n') "
                        f"f:close()\n"
                        f"command = f = io.open([[{log}]], 'a') "
                        f"f:write('command ', Command.CommandField or '?', '\\n') "
                        f"f:close() if Command.CommandField == '48' then reject() end\n"
                        f"endassociation = f = io.open([[{log}]], 'a') f:write('end\\n') f:close()\n"
                        f"clienterror = f = io.open([[{log}]], 'a') f:write('error\\n') f:close()\n"
                        f"printserver = f = io.open([[{log}]], 'a') f:write('print ', command_line, '\\n') f:close()")
    config = configure(folder)
    session = AssociationLua(AssociationInfo("MODALITY", "CONQUESTSRV1", 4, "10.0.0.9"), config)
    assert session.start() is True
    store = pydicom.Dataset()
    store.CommandField = 1
    echo = pydicom.Dataset()
    echo.CommandField = 0x30
    assert session.command(store) is True
    assert session.command(echo) is False                 # reject() drops the link
    session.client_error(store)
    assert session.print_event("printbasicfilmbox", None, None) is True
    session.end()
    assert log.read_text().splitlines() == ["start MODALITY", "command 1", "command 48", "error",
                                            "print printbasicfilmbox", "end"]


def test_refusing_association_and_errors_in_hooks(folder):
    lua_section(folder, "association = if Association.Calling == 'BAD' then destroy() end\n"
                        "command = error('broken hook')")
    config = configure(folder)
    assert AssociationLua(AssociationInfo("BAD"), config).start() is False
    good = AssociationLua(AssociationInfo("GOOD"), config)
    assert good.start() is True
    assert good.command(pydicom.Dataset()) is True       # a failing hook keeps the default


def test_import_converters_change_destroy_reject_and_choose_storage(folder):
    lua_section(folder, "ImportConverter0 = Data.InstitutionName = 'SEEN BY LUA'; x_count = (x_count or 0) + 1\n"
                        "ImportConverter2 = if Data.PatientID == 'DROPME' then destroy() end\n"
                        "ImportConverter3 = if Data.PatientID == 'NOTME' then reject() end; "
                        "Data.Storage = 'MAG1'; Data.StudyDescription = 'count ' .. x_count")
    config = configure(folder)
    session = AssociationLua(AssociationInfo("MOD"), config)
    ds = pydicom.dcmread(CT)
    result = session.import_step(ds)
    assert result.verdict == "keep" and result.storage == "MAG1"
    assert ds.InstitutionName == "SEEN BY LUA" and ds.StudyDescription == "count 1"
    ds.PatientID = "DROPME"
    assert session.import_step(ds).verdict == "destroy"
    ds.PatientID = "NOTME"
    assert session.import_step(ds).verdict == "reject"
    second = pydicom.dcmread(CT)
    session.import_step(second)
    assert second.StudyDescription == "count 4"           # the association state keeps its globals
    assert hooks.lua_converter(config, "ImportConverter1") is None
    assert AssociationLua(AssociationInfo("OTHER"), config).converter("QueryConverter0", ds) is None


def test_export_converter_state_and_global_hooks(folder, tmp_path):
    lua_section(folder, "ExportConverter0 = n = (n or 0) + 1; if n == 2 then script('defer') retry() end\n"
                        "background = ticks = (ticks or 0) + 1\n"
                        "nightly = nights = (nights or 0) + 1")
    config = configure(folder)
    ds = pydicom.dcmread(CT)
    assert hooks.export_converter(0, ds) == 1
    assert hooks.export_converter(0, ds) == 7
    assert hooks.export_converter(1, ds) is None
    task = hooks.LuaBackground(config, nightly_hour=0)
    task._last_night = ""
    task.tick()
    task.tick()
    state = states.global_state()
    assert state.run("return ticks .. ' ' .. nights") == "2 1"


def test_delayed_process_state(folder, tmp_path):
    script = tmp_path / "job.lua"
    script.write_text("jobs = (jobs or 0) + 1; last = command_line; if command_line == 'bad' then reject() end")
    configure(folder)
    assert hooks.delayed_process(str(script), "first") == 1
    assert hooks.delayed_process(str(script), "bad") == 6
    assert states.delayed_state().run("return jobs .. last") == "2bad"


def test_lua_file_names(folder):
    from dgate.store.filenames import generate_file_name, set_lua_namer
    configure(folder)
    naming.install()
    try:
        ds = pydicom.dcmread(CT, stop_before_pixels=True)
        name = generate_file_name(ds, "lua:Data.PatientID..'/'..Data.Modality..'_'..Data.SOPInstanceUID..'.dcm'")
        assert name == f"{ds.PatientID}/CT_{ds.SOPInstanceUID}.dcm"
        from dgate.store.filenames import UnsafeFileName
        with pytest.raises(UnsafeFileName):
            generate_file_name(ds, "lua:'../../etc/passwd'")
        with pytest.raises(UnsafeFileName):
            generate_file_name(ds, "lua:nil")
    finally:
        set_lua_namer(None)


def test_lua_file_names_in_a_running_server(tmp_path):
    """FileNameSyntax lua: through the store path (the namer is installed by the Lua
    capability at start-up via [lua] startup here)."""
    from netpeers import DgateProcess, dcmtk, have_dcmtk
    if not have_dcmtk():
        pytest.skip("dcmtk is installed by .ci/run")
    create_default_config(tmp_path)
    put_param(tmp_path / "dicom.ini", "FileNameSyntax", "lua:'lua_'..Data.Modality..'/'..Data.SOPInstanceUID..'.dcm'")
    assert run_dgate(["-i"], tmp_path).returncode == 0
    server = DgateProcess(tmp_path)
    try:
        assert dcmtk("storescu", "127.0.0.1", str(server.port), CT).returncode == 0
    finally:
        server.stop()
    sop = pydicom.dcmread(CT).SOPInstanceUID
    assert (tmp_path / "data" / "lua_CT" / f"{sop}.dcm").exists(), server.output()[-2000:]


def test_converter_lua_statement_runs_in_the_callers_state(folder):
    """dgate.luabind.run_lua_statement: the converter engine's ``lua`` statement."""
    from dgate.luabind import run_lua_statement
    config = configure(folder)
    session = AssociationLua(AssociationInfo("CALLER"), config)
    ds = pydicom.dcmread(CT)

    class Call:
        lua_state = session.state
        calling = "CALLER"
        called = "ME"
    assert run_lua_statement("seen = Association.Calling; Data.StationName = 'LUA'", ds, Call()) == 1
    assert ds.StationName == "LUA"
    assert session.state.run("return seen") == "CALLER"
    assert run_lua_statement("destroy()", ds, Call()) == 2
    assert run_lua_statement("reject()", ds) == 6                  # no context: a fresh state


def test_debugging_an_import_converter(folder, tmp_path):
    """An import converter that starts a debugger session (ZeroBrane's mobdebug in real use;
    the protocol's test debuggee here), driven over the MobDebug wire protocol."""
    import shutil
    import threading

    from conftest import REPO
    from debugger_ide import DebuggerIDE
    ide = DebuggerIDE()
    shutil.copy(REPO / "tests" / "lua" / "minidebug.lua", tmp_path / "minidebug.lua")
    script = tmp_path / "import.lua"
    script.write_text(f"package.path = [[{tmp_path}/?.lua;]] .. package.path\n"
                      f"require('minidebug').start('127.0.0.1', {ide.port})\n"
                      "local id = Data.PatientID\n"
                      "Data.PatientID = 'DEBUGGED'\n"
                      "require('minidebug').done()\n")
    lua_section(folder, f"ImportConverter0 = dofile([[{script}]])")
    config = configure(folder)
    session = AssociationLua(AssociationInfo("MOD"), config)
    ds = pydicom.dcmread(CT)
    worker = threading.Thread(target=session.import_step, args=(ds,), daemon=True)
    worker.start()
    try:
        ide.accept()
        assert ide.resume("STEP") == (str(script), 4)
        assert ide.exec("return id") == ("200 OK 15", 'return {"1CT1"}')
        assert ide.resume("RUN") is None
    finally:
        ide.close()
    worker.join(10)
    assert ds.PatientID == "DEBUGGED"
