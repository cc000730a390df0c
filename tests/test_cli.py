"""The ``dgate`` command line (conquest-protocol.md §1–§2) run as a real process."""
import re
import socket

from conftest import run_dgate
from pydicom.data import get_testdata_file

from dgate.log import Channel, FileSink, Logs, UdpSink


def test_creates_default_configuration_in_an_empty_folder(tmp_path):
    result = run_dgate(["-m"], tmp_path)
    assert result.returncode == 0
    for name in ("dicom.ini", "dicom.sql", "acrnema.map", "dgatesop.lst", "dgate.dic"):
        assert (tmp_path / name).exists()
    assert (tmp_path / "data" / "dbase").is_dir()
    ini = (tmp_path / "dicom.ini").read_text()
    assert f"MAGDevice0               = {tmp_path.resolve()}/data/" in ini
    prefix = re.search(r"UIDPrefix\s+= (\S+)", ini).group(1)
    assert re.fullmatch(r"2\.25\.\d+", prefix) and len(prefix) <= 46
    assert "created default configuration" in result.stderr
    again = run_dgate(["-m"], tmp_path)
    assert "created default configuration" not in again.stderr
    assert (tmp_path / "dicom.ini").read_text() == ini


def test_w_option(tmp_path, workdir):
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    result = run_dgate([f"-w{workdir}", "-v", "-m"], elsewhere)
    assert result.returncode == 0 and "CONQUESTSRV1" in result.stdout
    missing = run_dgate([f"-w{tmp_path}/nope", "-m"], elsewhere)
    assert missing.returncode == 1 and f"Directory {tmp_path}/nope does not exist." in missing.stdout
    (tmp_path / "afile").write_text("x")
    notdir = run_dgate([f"-w{tmp_path}/afile", "-m"], elsewhere)
    assert notdir.returncode == 1 and "is not a directory." in notdir.stdout
    noini = run_dgate(["-wother.ini", "-m"], workdir)
    assert noini.returncode == 1 and "other.ini not found, but required." in noini.stdout


def test_micropacs_is_required(workdir):
    ini = workdir / "dicom.ini"
    ini.write_text(ini.read_text().replace("MicroPACS                = sscscp\n", ""))
    result = run_dgate(["-m"], workdir)
    assert result.returncode == 1
    assert "MicroPACS entry in" in result.stdout and "not found, but required." in result.stdout


def test_fu_prints_a_new_uid(workdir):
    ini = workdir / "dicom.ini"
    ini.write_text(re.sub(r"UIDPrefix\s+= \S+", "UIDPrefix = 99999.99999", ini.read_text()))
    result = run_dgate(["-c41", "-fu"], workdir)
    assert result.returncode == 0
    assert re.fullmatch(r"99999\.99999\.6\.\d{10}\.41\n", result.stdout)      # as 1.5.0e: -c5 gives .5


def test_f_question_prints_sop_instance_uid(workdir):
    path = get_testdata_file("CT_small.dcm")
    result = run_dgate([f"-f?{path}"], workdir)
    assert result.returncode == 0
    assert result.stdout == "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322\n"
    broken = workdir / "broken.dcm"
    broken.write_bytes(b"not dicom at all")
    bad = run_dgate(["-v", f"-f?{broken}"], workdir)
    assert bad.returncode == 1 and "-FAILED" in bad.stdout


def test_help_goes_to_stderr(workdir):
    for option in ("-?", "-1"):
        result = run_dgate([option], workdir)
        assert result.returncode == 0 and result.stdout == ""
        assert "Usage:" in result.stderr and "--command:arguments" in result.stderr


def test_grab_option_runs_grabimagesfromserver(workdir):
    """``-gAE[,DATE]`` is GrabImagesFromServer (exit 1 for an AE that is not known, as 1.5.0e)."""
    result = run_dgate(["-v", "-gNOSUCHAE,20200101"], workdir)
    assert result.returncode == 1
    assert "grab: AE not found: NOSUCHAE" in result.stdout + result.stderr, result.stdout + result.stderr


def test_d_lists_free_space(workdir):
    result = run_dgate(["-d"], workdir)
    assert result.returncode == 0
    assert re.fullmatch(r"\*\* MAG DEVICE CHECK\n\nFree space on MAG   Device 0 := \d+ MByte\n", result.stdout)


def test_console_test_and_log_files(workdir):
    result = run_dgate(["-#test.log", "-t"], workdir)
    assert result.returncode == 0 and result.stdout == ""
    lines = (workdir / "test.log").read_text().splitlines()
    assert len(lines) == 5
    assert re.match(r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} This is a test", lines[0])
    assert lines[-1].endswith(" ---------- Succesful end of test -----------")
    plain = run_dgate(["-Lplain.log", "-t"], workdir)
    assert plain.returncode == 0
    assert (workdir / "plain.log").read_text().startswith("This is a test of the OperatorConsole")


def test_trouble_log_mirrors_star_lines_only_when_channel_on(tmp_path):
    logs = Logs()
    logs.open_files(tmp_path / "trouble.log", tmp_path / "user.log")
    logs.operator.printf("*** not printed: channel off\n")
    logs.operator.send_to(FileSink(tmp_path / "op.log", timestamps=False))
    logs.operator.printf("normal line\n")
    logs.operator.printf("***Error saving to SQL\n")
    logs.log_user("C-Store", "STORESCU")
    trouble = (tmp_path / "trouble.log").read_text().splitlines()
    assert len(trouble) == 1 and trouble[0].endswith(" ***Error saving to SQL")
    assert (tmp_path / "op.log").read_text() == "normal line\n***Error saving to SQL\n"
    assert (tmp_path / "user.log").read_text().endswith('"C-Store","STORESCU        "\n')


def test_udp_sink_prefixes_pacs_name():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    channel = Channel("OperatorConsole", prefix="CONQUESTSRV1")
    channel.send_to(UdpSink("127.0.0.1", receiver.getsockname()[1]))
    channel.printf("C-Echo\n")
    assert receiver.recv(100) == b"[CONQUESTSRV1] C-Echo\n"
    channel.send_to(FileSink("/dev/null", timestamps=False))
    assert channel.prefixed          # the prefix flag stays once set
    receiver.close()


def test_config_warnings_are_reported(workdir):
    ini = workdir / "dicom.ini"
    ini.write_text(ini.read_text() + " Indented = 1\n")
    result = run_dgate(["-m"], workdir)
    assert result.returncode == 0
    assert "line starts with a space; Conquest ignores it" in result.stderr
