"""Destructive server commands: refusable in dicom.ini, logged with their source (issue 9)."""
from __future__ import annotations

import time

from pydicom.data import get_testdata_file

from conftest import run_dgate
from netpeers import start_server


def cmd(server, *args):
    return run_dgate([f"-p{server.port}", *args], server.folder)


def wait_for(server, text: str, timeout: float = 5) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in server.output():
            return server.output()
        time.sleep(0.05)
    return server.output()


def test_destructive_commands_are_logged_with_their_source(tmp_path):
    server = start_server(tmp_path)
    try:
        assert cmd(server, f"--addimagefile:{get_testdata_file('CT_small.dcm')}").stdout == "0"
        assert cmd(server, "--deletepatient:1CT1").returncode == 0
        log = wait_for(server, "Destructive server command")
        assert "Destructive server command from 127.0.0.1: deletepatient:1CT1\n" in log
        assert cmd(server, "--patientfinder:local|=1CT1").stdout == ""          # it ran (default)
        cmd(server, "--deletestudy:X\nforged line")
        log = wait_for(server, "deletestudy:")
        assert "Destructive server command from 127.0.0.1: deletestudy:X...\n" in log   # no forged line
        assert "Deleting study from: X...\n" in log
        cmd(server, "--display_status:")
        assert "Destructive server command from 127.0.0.1: display_status" not in server.output()
    finally:
        server.stop()


def test_refused_commands(tmp_path):
    server = start_server(tmp_path, RefusedServerCommands="destructive, lua")
    try:
        assert cmd(server, f"--addimagefile:{get_testdata_file('CT_small.dcm')}").stdout == "0"
        assert cmd(server, "--deletepatient:1CT1").returncode == 0
        assert cmd(server, "--patientfinder:local|=1CT1").stdout == "CompressedSamples^CT1 1CT1\n"   # kept
        assert "***Server command deletepatient: refused by RefusedServerCommands (from 127.0.0.1)" in \
            wait_for(server, "refused by RefusedServerCommands")
        assert cmd(server, "--quit:").returncode == 0                          # answered: not run
        time.sleep(0.3)
        assert server.proc.poll() is None                                      # quit: refused, still up
        assert cmd(server, "--get_param:MyACRNema").stdout == "CONQUESTSRV1"  # the rest works
    finally:
        server.stop()
