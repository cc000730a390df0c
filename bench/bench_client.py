"""Control-client wall time per call: our ``dgate``/``servertask`` against the original's, on
the same running server, interleaved (issue 11; target ≤ 60 ms per call).

Usage: python3 bench/bench_client.py [--calls N] [--original-template DIR]

``--original-template`` names a run folder of the original (its ``dgate`` and ``servertask``
binaries next to dicom.ini, dicom.sql, acrnema.map, dgatesop.lst, dgate.dic, as
``/work/scratch/orig``): it is copied, given a free port and started, and both clients are
measured against both servers. Without it only our clients against our server are measured.

Our clients run as the installed console scripts run them (``from dgate.cli.main import
main``), with byte-code compiled first, as ``pip install`` does. The interpreter's own start
(``python -c pass``) is measured alongside, since it is the floor of every Python call here.
Reports the median and the minimum of N calls per case (default 21); on a shared machine the
minimum is the better estimate of the cost itself.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV.update(TCP_NODELAY="1", PYTHONPATH=str(REPO))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def console_script(folder: Path, module: str) -> list[str]:
    """What pip's console-script wrapper runs for ``module:main``."""
    script = folder / f"{module.split('.')[0]}-script.py"
    script.write_text(f"import sys\nfrom {module} import main\nsys.exit(main())\n")
    return [sys.executable, str(script)]


def start_ours(work: Path) -> tuple[subprocess.Popen, int, Path]:
    folder = work / "ours"
    folder.mkdir()
    subprocess.run([sys.executable, "-m", "dgate", "-i"], cwd=folder, env=ENV, capture_output=True, check=True)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dgate", f"-p{port}"], cwd=folder, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_port(port):
        raise SystemExit("our server did not start")
    return proc, port, folder


def start_original(template: Path, work: Path) -> tuple[subprocess.Popen, int, Path]:
    folder = work / "orig"
    shutil.copytree(template, folder, ignore=shutil.ignore_patterns("*.log", "data"))
    (folder / "data" / "dbase").mkdir(parents=True)
    port = free_port()
    ini = (folder / "dicom.ini").read_text()
    lines = []
    for line in ini.replace(str(template), str(folder)).splitlines():
        lines.append(f"TCPPort = {port}" if line.startswith("TCPPort") else line)
    (folder / "dicom.ini").write_text("\n".join(lines) + "\n")
    subprocess.run(["./dgate", "-r"], cwd=folder, capture_output=True, env=ENV)
    for _ in range(20):             # the original does not set SO_REUSEADDR: a port may be in TIME_WAIT
        proc = subprocess.Popen(["./dgate"], cwd=folder, env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if wait_port(port, 5) and proc.poll() is None:
            return proc, port, folder
        proc.kill()
        port = free_port()
        (folder / "dicom.ini").write_text("\n".join(
            f"TCPPort = {port}" if line.startswith("TCPPort") else line for line in lines) + "\n")
    raise SystemExit("the original server did not start")


def timed(command: list[str], cwd: Path) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, result.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=21)
    parser.add_argument("--original-template", type=Path)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "dgate"), str(REPO / "servertask")],
                   env=ENV, check=True)
    work = Path(tempfile.mkdtemp(prefix="bench-client-"))
    servers = {"ours": start_ours(work)}
    try:
        if args.original_template:
            servers["original"] = start_original(args.original_template.resolve(), work)
        ours_dgate = console_script(work, "dgate.cli.main")
        ours_servertask = console_script(work, "servertask.main")
        ours_folder = servers["ours"][2]
        cases: list[tuple[str, list[str], Path]] = [
            ("python -c pass (interpreter start)", [sys.executable, "-c", "pass"], ours_folder),
            ("python -S -c pass", [sys.executable, "-S", "-c", "pass"], ours_folder)]
        for name, (_proc, port, _folder) in servers.items():
            for command in ("--display_status:", "--get_param:MyACRNema"):
                cases.append((f"ours dgate {command} -> {name} server", ours_dgate + [f"-p{port}", command],
                              ours_folder))
                cases.append((f"ours servertask {command} -> {name} server",
                              ours_servertask + [f"-p{port}", command], ours_folder))
                if "original" in servers:
                    orig_folder = servers["original"][2]
                    cases.append((f"original dgate {command} -> {name} server",
                                  ["./dgate", f"-p{port}", command], orig_folder))
                    cases.append((f"original servertask {command} -> {name} server",
                                  ["./servertask", f"-p{port}", command], orig_folder))
        for option in ("-?", "-m", "-k"):
            cases.append((f"ours dgate {option}", ours_dgate + [option], ours_folder))
            if "original" in servers:
                cases.append((f"original dgate -v {option}", ["./dgate", "-v", option], servers["original"][2]))
        times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        codes: dict[str, int] = {}
        for _ in range(args.calls):                   # interleaved: every case once per round
            for name, command, cwd in cases:
                seconds, code = timed(command, cwd)
                times[name].append(seconds)
                codes[name] = code
        width = max(len(name) for name in times)
        print(f"{'case':<{width}}  median ms   min ms   (exit code)   {args.calls} calls each")
        for name, values in times.items():
            print(f"{name:<{width}}  {statistics.median(values) * 1000:8.1f} {min(values) * 1000:8.1f}   "
                  f"({codes[name]})")
    finally:
        for name, (proc, port, folder) in servers.items():
            if name == "original":
                subprocess.run(["./dgate", f"-p{port}", "--quit:"], cwd=folder, capture_output=True)
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
