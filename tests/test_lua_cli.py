"""Command-line Lua entry points (conquest-lua-web.md §1.6 startup, §1.7)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO, run_dgate
from pydicom.data import get_testdata_file

CT = get_testdata_file("CT_small.dcm")


def servertask(args: list[str], cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "servertask", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def test_dolua_chunk_and_arg(workdir):
    result = run_dgate(["--dolua:print(version, #arg, arg[2], arg[3]) print(Association.Calling == '')", "extra"],
                       workdir)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("1.5.0e\t3\t--dolua:print(version") and lines[0].endswith("\textra")
    assert lines[1] == "true"


def test_dolua_file_as_given_and_below_lua(workdir):
    (workdir / "here.lua").write_text("print('here', Global.BaseDir ~= nil)")
    (workdir / "lua").mkdir(exist_ok=True)
    (workdir / "lua" / "there.lua").write_text("print('there')")
    assert run_dgate(["--dolua:here.lua"], workdir).stdout == "here\ttrue\n"
    assert run_dgate(["--dolua:there.lua"], workdir).stdout == "there\n"


def test_dolua_errors_are_printed_and_exit_zero(workdir):
    result = run_dgate(["--dolua:x = = 2"], workdir)
    assert result.returncode == 0
    assert result.stdout.startswith("*** lua syntax error [string \"x = = 2\"]:1:")


def test_dolua_non_ascii_text_reaches_lua_as_bytes(workdir):
    result = run_dgate(["--dolua:io.write(#'é')"], workdir)
    assert result.stdout == "2"


def test_json_dump_options(workdir):
    summary = run_dgate([f"-js{CT}"], workdir)
    assert summary.returncode == 1
    data = json.loads(summary.stdout)
    assert data["PatientName"] == "CompressedSamples^CT1" and "PixelData" not in data
    full = run_dgate([f"-jj{CT}"], workdir)
    assert full.returncode == 1
    assert len(json.loads(full.stdout)["PixelData"]) == 128 * 128


def test_servertask_dolua(tmp_path):
    result = servertask(["--dolua:print('hi', type(servercommand), type(Data), select('#', servercommand('x:')))"],
                        tmp_path)
    assert result.returncode == 0 and result.stdout == "hi\tfunction\tnil\t0\n"
    bare = servertask(["print(1+)"], tmp_path)
    assert bare.stdout == "*** lua syntax error [string \"print(1+)\"]:1: unexpected symbol near ')' in 'print(1+)'\n"
    err = servertask(["--dolua:error('x')"], tmp_path)
    assert err.stdout == "*** lua run error [string \"error('x')\"]:1: x in 'error('x')'\n"


def test_startup_and_autostart_run_before_options(workdir):
    ini = workdir / "dicom.ini"
    ini.write_text(ini.read_text().replace("[lua]", "[lua]\nstartup = started = (started or 0) + 1", 1))
    (workdir / "dgate.lua").write_text("auto = 'yes'")
    result = run_dgate(["--dolua:print(started, auto)"], workdir)
    assert result.stdout == "1\tyes\n"


def test_startup_verdict_stops_every_invocation(workdir):
    ini = workdir / "dicom.ini"
    ini.write_text(ini.read_text().replace("[lua]", "[lua]\nstartup = reject()", 1))
    assert run_dgate(["--dolua:print('not reached')"], workdir).returncode == 1
    assert run_dgate(["--echo:NOBODY"], workdir).returncode == 1


def test_startup_hook_needs_no_lua_when_absent(workdir):
    """No [lua] startup and no dgate.lua: the client path does not load Lua or pydicom."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    probe = ("import sys, runpy; sys.argv = ['dgate', '-p1', '--echo:X']\n"
             "try:\n    runpy.run_module('dgate', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "print('LUPA' if any(m.startswith('lupa') for m in sys.modules) else 'NOLUPA')")
    result = subprocess.run([sys.executable, "-c", probe], cwd=workdir, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip().endswith("NOLUPA")
