"""The control clients (``dgate --cmd:``, ``servertask``, ``dgate -?/-m/-k``): what they load,
what they print and what they write (conquest-protocol.md §3, §4.6, §6; issues 9, 10, 11)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, run_dgate
from netpeers import DgateProcess, start_server

HEAVY = ("pydicom", "pynetdicom", "numpy", "dataclasses", "sqlite3", "lupa")


def loaded_modules(args: list[str], cwd, tool: str = "dgate") -> tuple[int, list[str], str]:
    """Run a client entry point in a fresh interpreter; (exit code, heavy modules it imported, stderr)."""
    entry = "dgate.cli.main" if tool == "dgate" else "servertask.main"
    code = (f"import sys; from {entry} import main; rc = main({args!r}); import json; "
            f"sys.stderr.write('\\nMODULES=' + json.dumps([rc, sorted(m for m in sys.modules "
            f"if m.split('.')[0] in {HEAVY!r})]))")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=60)
    text, _, found = result.stderr.rpartition("\nMODULES=")
    rc, modules = json.loads(found)
    return rc, modules, text


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("client")
    proc = start_server(folder)
    yield proc
    proc.stop()


def test_command_path_loads_only_the_channel(server, tmp_path):
    rc, modules, _ = loaded_modules([f"-p{server.port}", "--display_status:"], server.folder)
    assert rc == 255 and modules == []
    rc, modules, _ = loaded_modules([f"-p{server.port}", "--display_status:"], server.folder, tool="servertask")
    assert rc == 255 and modules == []
    rc, modules, _ = loaded_modules(["-?"], tmp_path)
    assert rc == 0 and modules == []


def test_listings_load_no_dicom_library(server):
    for option in ("-m", "-k"):
        rc, modules, _ = loaded_modules([option], server.folder)
        assert rc == 0 and modules == [], option


def test_command_in_a_folder_without_dicom_ini_writes_nothing(server, tmp_path):
    result = run_dgate([f"-p{server.port}", "--get_param:MyACRNema"], tmp_path)
    assert result.returncode == 255 and result.stdout == "CONQUESTSRV1"
    assert list(tmp_path.iterdir()) == []
    down = run_dgate(["-p1", "--display_status:"], tmp_path)       # nothing listens on port 1
    assert down.returncode == 1 and "no answer from the server at 127.0.0.1:1" in down.stderr
    assert list(tmp_path.iterdir()) == []


def test_help_without_dicom_ini(tmp_path):
    result = run_dgate(["-?"], tmp_path)
    assert result.returncode == 0 and "--command:arguments" in result.stderr
    assert "README" in result.stderr and list(tmp_path.iterdir()) == []


def test_unknown_command_keeps_exit_code_and_hints(server):
    for tool in ("dgate", "servertask"):
        result = _run(tool, server, "--no_such_command:x")
        assert result.returncode == 0 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and "'no_such_command:' is not a server command" in result.stderr
    known = run_dgate([f"-p{server.port}", "--deletepatient:NOBODY"], server.folder)
    assert known.returncode == 0 and known.stderr == ""
    key = run_dgate([f"-p{server.port}", "--get_param:NoSuchKey"], server.folder)
    assert key.returncode == 0 and key.stdout == "" and "'NoSuchKey' has no value" in key.stderr
    found = run_dgate([f"-p{server.port}", "--get_param:MyACRNema"], server.folder)
    assert found.returncode == 255 and found.stdout == "CONQUESTSRV1" and found.stderr == ""


def test_literal_cmd_placeholder_is_refused(server):
    for tool in ("dgate", "servertask"):
        result = _run(tool, server, "--cmd:")
        assert result.returncode == 1 and result.stdout == ""
        assert "placeholder" in result.stderr and f"{tool} --display_status:" in result.stderr
    assert "Server Command := cmd:" not in server.output()          # never sent


def _run(tool: str, server: DgateProcess, *args: str) -> subprocess.CompletedProcess:
    if tool == "dgate":
        return run_dgate([f"-p{server.port}", *args], server.folder)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "servertask", f"-p{server.port}", *args], cwd=server.folder,
                          capture_output=True, text=True, env=env, timeout=60)


def test_client_command_list_matches_the_server_table():
    from dgate.cli.client import SERVER_COMMANDS
    from dgate.commands import COMMANDS
    assert set(COMMANDS) <= SERVER_COMMANDS
    # client-side only (dolua)
    assert SERVER_COMMANDS - set(COMMANDS) == {"dolua"}


def test_readme_lists_every_server_command():
    import re
    from dgate.cli.client import SERVER_COMMANDS
    text = (REPO / "README.md").read_text()
    section = text[text.index("### Server commands"):]
    section = section[:section.index("\n## ")]
    listed = {word for quoted in re.findall(r"`([^`]+)`", section) for word in re.findall(r"[a-z_0-9]+", quoted)}
    assert SERVER_COMMANDS <= listed, sorted(SERVER_COMMANDS - listed)
