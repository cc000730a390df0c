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


def import_context(config, session, calling="MOD"):
    """The association's converter context, as the server builds it: the converter engine
    runs every ImportConverterN, the [lua] ones in the association's Lua state."""
    from dgate.convert import ConvertContext
    return ConvertContext(config, calling=calling, called="CONQUESTSRV1", lua_state=session.state)


def test_import_converters_change_destroy_reject_and_choose_storage(folder):
    from dgate.convert import Converters
    lua_section(folder, "ImportConverter0 = Data.InstitutionName = 'SEEN BY LUA'; x_count = (x_count or 0) + 1\n"
                        "ImportConverter2 = if Data.PatientID == 'DROPME' then destroy() end\n"
                        "ImportConverter3 = if Data.PatientID == 'NOTME' then reject() end; "
                        "Data.Storage = 'MAG1'; Data.StudyDescription = 'count ' .. x_count")
    put_param(folder / "dicom.ini", "ImportConverter1", 'set 0008,1030 to "from the ini line"')
    put_param(folder / "dicom.ini", "ImportCallingAE0", "NOBODY")      # filters do not apply to [lua] keys
    config = configure(folder)
    session = AssociationLua(AssociationInfo("MOD"), config)
    converters = Converters(config)
    ds = pydicom.dcmread(CT)
    result = converters.run_import(ds, import_context(config, session))
    assert not result.destroyed and not result.rejected and result.storage == "MAG1"
    assert ds.InstitutionName == "SEEN BY LUA" and ds.StudyDescription == "count 1"
    ds.PatientID = "DROPME"
    assert converters.run_import(ds, import_context(config, session)).destroyed
    ds.PatientID = "NOTME"
    assert converters.run_import(ds, import_context(config, session)).rejected
    second = pydicom.dcmread(CT)
    converters.run_import(second, import_context(config, session))
    assert second.StudyDescription == "count 4"           # the association state keeps its globals
    assert hooks.lua_converter(config, "ImportConverter1") is None


def test_export_converter_state_and_global_hooks(folder, tmp_path):
    from dgate.convert.queues import ExportQueues
    lua_section(folder, "ExportConverter0 = n = (n or 0) + 1; if n == 2 then script('defer') end\n"
                        "background = ticks = (ticks or 0) + 1\n"
                        "nightly = nights = (nights or 0) + 1")
    put_param(folder / "dicom.ini", "ExportConverters", "1")
    config = configure(folder)
    queues = ExportQueues(config, config_logs(), folder=tmp_path)
    entry = {"file": CT, "calling": "MOD", "called": "CONQUESTSRV1"}
    assert queues.run_export(0, entry) is False
    assert queues.run_export(0, entry) is True               # script('defer'): try again later
    assert queues.run_export(1, entry) is False
    assert states.export_state(0).run("return n") == "2"   # ExportConverter0's own state
    task = hooks.LuaBackground(config, nightly_hour=0)
    task._last_night = ""
    task.tick()
    task.tick()
    state = states.global_state()
    assert state.run("return ticks .. ' ' .. nights") == "2 1"


def config_logs():
    from dgate.log import Logs
    return Logs()


def test_delayed_process_state(folder, tmp_path):
    from dgate.convert.delayed import DelayedOp, DelayedQueue, _process
    script = tmp_path / "job.lua"
    script.write_text("jobs = (jobs or 0) + 1; last = command_line .. Association.Calling")
    config = configure(folder)
    queue = DelayedQueue(config, config_logs(), folder=tmp_path)
    _process(queue, DelayedOp(operation="process", server=f"{script} first"))
    _process(queue, DelayedOp(operation="process", server=f"{script}(second)"))
    assert states.delayed_state().run("return jobs .. last") == "2secondprefetch"


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
    """dgate.luabind.run_converter: the converter engine's Lua call."""
    from dgate.convert import ConvertContext
    from dgate.luabind import run_converter
    config = configure(folder)
    session = AssociationLua(AssociationInfo("CALLER"), config)
    ds = pydicom.dcmread(CT)
    ctx = ConvertContext(config, calling="CALLER", called="ME", lua_state=session.state)
    assert run_converter("seen = Association.Calling; Data.StationName = 'LUA'", ds, ctx) == 0
    assert ds.StationName == "LUA"
    assert session.state.run("return seen") == "CALLER"
    assert run_converter("destroy()", ds, ctx, rc=1) == 2
    fresh = ConvertContext(config)
    assert run_converter("kept = 'yes'; reject()", ds, fresh) == 6      # a new state, kept on the context
    assert fresh.lua_state is not None and fresh.lua_state.run("return kept") == "yes"


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
    from dgate.convert import Converters
    worker = threading.Thread(target=Converters(config).run_import, args=(ds, import_context(config, session)),
                              daemon=True)
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
