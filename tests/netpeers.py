"""Running a real dgate server and real DICOM peers for network tests."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO

DCMTK = Path("/usr/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


class DgateProcess:
    """``dgate -v`` running in a config folder on a free port."""

    def __init__(self, folder: Path, port: int | None = None, args: list[str] | None = None):
        self.folder = folder
        self.port = port or free_port()
        self.log = folder / "server.log"
        env = dict(os.environ, PYTHONPATH=str(REPO), TCP_NODELAY="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "dgate", "-v", f"-p{self.port}", *(args or [])],
                                     cwd=folder, env=env, stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            raise AssertionError("dgate did not start:\n" + self.log.read_text())

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        end(self.proc)


def end(proc: subprocess.Popen) -> None:
    """Stop a peer process started by a test: terminate, kill when it does not go within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def dcmtk(tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, TCP_NODELAY="1")
    return subprocess.run([str(DCMTK / tool), *args], capture_output=True, text=True, timeout=timeout, env=env)


def have_dcmtk() -> bool:
    return shutil.which(str(DCMTK / "storescu")) is not None


def start_server(folder: Path, start: bool = True, **params: str) -> DgateProcess | None:
    """Default configuration in ``folder`` with ``params`` put into dicom.ini, tables
    initialised, and (unless ``start=False``) a running dgate."""
    from conftest import run_dgate

    from dgate.config.defaults import create_default_config
    from dgate.config.ini import put_param
    create_default_config(folder)
    params.setdefault("WebPort", "0")      # no web server on the shared port 8086 unless a test asks
    for key, value in params.items():
        put_param(folder / "dicom.ini", key, value)
    assert run_dgate(["-i"], folder).returncode == 0
    return DgateProcess(folder) if start else None


class StoreSCP:
    """dcmtk ``storescp`` as AE ``ae`` writing every object it receives into ``folder``
    (made if missing; ``options``: more storescp options, e.g. ``-uf`` unique file names,
    ``+xa`` every syntax, ``+xv`` JPEG 2000 preferred). ``port``: one chosen beforehand
    (e.g. already written into an acrnema.map). Stop it with :meth:`stop`, or use it as a
    context manager."""

    def __init__(self, folder: Path, ae: str, *options: str, port: int | None = None):
        self.folder, self.ae = folder, ae
        folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        env = dict(os.environ, TCP_NODELAY="1")
        self.proc = subprocess.Popen([str(DCMTK / "storescp"), "-aet", ae, "-od", str(folder), *options,
                                      str(self.port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            raise

    def __enter__(self) -> "StoreSCP":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file())

    def wait_for(self, n: int, timeout: float = 20) -> list[Path]:
        """The files received, once there are ``n`` of them (or after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.files()) < n:
            time.sleep(0.1)
        return self.files()

    def take(self) -> list:
        """The objects received so far, read and removed."""
        import pydicom
        got = [pydicom.dcmread(p) for p in self.files()]
        for p in self.files():
            p.unlink()
        return got

    def stop(self) -> None:
        end(self.proc)
