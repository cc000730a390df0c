"""dicom.ini reading rules (conquest-storage.md §1.2) and put_param/delete_param (§1.3)."""
from pathlib import Path

import pytest

from dgate.config import Configuration, ConfigError
from dgate.config.ini import IniFile, delete_param, put_param
from dgate.config.keys import Settings, atoi

from conftest import SAMPLES


def write(tmp_path: Path, text: str) -> IniFile:
    path = tmp_path / "dicom.ini"
    path.write_bytes(text.encode("latin-1"))
    return IniFile(path)


def test_rules_of_the_original_parser(tmp_path):
    ini = write(tmp_path, (
        "Orphan = before any section\n"
        "[sscscp]\r\n"
        "MicroPACS = sscscp\r\n"
        " Spaced = invisible\n"
        "\tTabbed = invisible too\n"
        "; Comment = no\n"
        "#Hash = parsed as a key named #Hash\n"
        "Inline = value ; comment # more\n"
        "A = a=b\n"
        "Quoted = \"quoted value\"\n"
        "Single = 'single'\n"
        "Empty =\n"
        "TESTCASE = upper\n"
        "Dup = first\n"
        "Dup = second\n"
        "NoEquals\n"
        "[other]\n"
        "Dup = other section\n"
        "[SSCSCP]\n"
        "Merged = from second block\n"
        "Dup = third\n"
        "[ sscscp ]\n"
        "Untrimmed = never seen\n"))
    assert ini.get("sscscp", "MicroPACS") == "sscscp"
    assert ini.get("sscscp", "Spaced") is None
    assert ini.get("sscscp", "Tabbed") is None
    assert ini.get("sscscp", "Comment") is None
    assert ini.get("sscscp", "#Hash") == "parsed as a key named #Hash"
    assert ini.get("sscscp", "Inline") == "value ; comment # more"
    assert ini.get("sscscp", "A") == "a=b"
    assert ini.get("sscscp", "Quoted") == "quoted value"
    assert ini.get("sscscp", "Single") == "single"
    assert ini.get("sscscp", "Empty", "default") == ""
    assert ini.get("sscscp", "Missing", "default") == "default"
    assert ini.get("sscscp", "testcase") == "upper"
    assert ini.get("SscScp", "TestCase") == "upper"
    assert ini.get("sscscp", "Dup") == "first"
    assert ini.get("other", "Dup") == "other section"
    assert ini.get("sscscp", "Merged") == "from second block"
    assert ini.get("sscscp", "Untrimmed") is None
    assert ini.get("sscscp", "NoEquals") == ""
    assert ini.get("sscscp", "Orphan") is None
    messages = "\n".join(str(w) for w in ini.warnings)
    assert "dicom.ini:4: line starts with a space" in messages
    assert "dicom.ini:5: key 'Tabbed' starts with a tab" in messages
    assert "duplicate key 'Dup'" in messages and "line 14" in messages
    assert "[ sscscp ]" in messages
    assert "no '=' in 'NoEquals'" in messages


def test_root_section_indirection(tmp_path):
    ini = write(tmp_path, "[sscscp]\nMicroPACS = mypacs\nTCPPort = 1\n[mypacs]\nTCPPort = 2\n")
    assert ini.root_section == "mypacs"
    assert ini.param("TCPPort") == "2"


def test_typed_defaults_and_atoi(tmp_path):
    ini = write(tmp_path, "[sscscp]\nMicroPACS = sscscp\nTCPPort = 5678\nDebugLevel = abc\n"
                          "MAGDeviceThreshold = 12\nUserLog = user.log\nkFactorFile = /etc/x.sql\n")
    s = Settings(ini, tmp_path)
    assert s.str("TCPPort") == "5678"
    assert s.int("TCPIPTimeOut") == 300
    assert s.int("TruncateFieldNames") == 10
    assert s.str("MyACRNema") == "none"
    assert s.int("DebugLevel") == 0
    assert s.int("MAGDeviceThreshHold") == 12       # alias spelling
    assert s.path("UserLog") == tmp_path / "user.log"
    assert s.path("kFactorFile") == Path("/etc/x.sql")
    assert s.path("TroubleLog") == tmp_path / "PacsTrouble.log"
    assert ("DebugLevel", "abc", 4) in s.non_numeric_ints()
    assert atoi("  -12xyz") == -12 and atoi("x1") == 0 and atoi("") == 0


def test_file_changes_are_seen(tmp_path):
    ini = write(tmp_path, "[sscscp]\nMicroPACS = sscscp\nA = 1\n")
    (tmp_path / "dicom.ini").write_text("[sscscp]\nMicroPACS = sscscp\nA = 22\n")
    ini.refresh(force=True)
    assert ini.param("A") == "22"


def test_derived_values_are_worked_out_once_per_load(tmp_path):
    ini = write(tmp_path, "[sscscp]\nMicroPACS = sscscp\nA = 1\n")
    calls = []

    def doubled() -> int:
        calls.append(1)
        return 2 * int(ini.param("A") or 0)
    assert [ini.derived("doubled", doubled) for _ in range(3)] == [2, 2, 2] and len(calls) == 1
    assert ini.derived("other", lambda: "x") == "x" and len(calls) == 1     # names keep values apart
    (tmp_path / "dicom.ini").write_text("[sscscp]\nMicroPACS = sscscp\nA = 22\n")
    ini.refresh(force=True)
    assert ini.derived("doubled", doubled) == 44 and len(calls) == 2


@pytest.mark.parametrize("name", ["dicom.ini.sqlite", "dicom.ini.mysql", "dicom.ini.postgres", "dicom.ini.dbase"])
def test_shipped_samples_parse(tmp_path, name):
    (tmp_path / "dicom.ini").write_bytes((SAMPLES / name).read_bytes())
    config = Configuration.open(tmp_path)
    s = config.settings
    assert s.str("MyACRNema") == "CONQUESTSRV1"
    assert s.str("TCPPort") == "5678"
    assert s.int("MAGDeviceFullThreshHold") == 30
    assert config.ini.warnings == []
    expected = {"dicom.ini.sqlite": (1, 0, 0), "dicom.ini.mysql": (0, 1, 0),
                "dicom.ini.postgres": (0, 0, 1), "dicom.ini.dbase": (0, 0, 0)}[name]
    assert (s.int("SQLite"), s.int("MySQL"), s.int("Postgres")) == expected
    assert config.ini.get("lua", "association").startswith("package.path")


def test_put_param_replaces_everywhere_and_stamps(tmp_path):
    path = tmp_path / "dicom.ini"
    path.write_text("[sscscp]\nMicroPACS = sscscp\nTCPPort = 104\ntcpport\t= 105\nTCPPortX = 1\n"
                    "[lua]\nTCPPort = 106\n")
    put_param(path, "TCPPort", "5678", now=0)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# Written by put_param on Thu Jan  1")
    assert lines.count(f"{'TCPPort':<24} = 5678") == 3
    assert "TCPPortX = 1" in lines
    assert IniFile(path).param("TCPPort") == "5678"
    put_param(path, "TCPPort", "1", now=0)
    assert sum(1 for l in path.read_text().splitlines() if l.startswith("# Written by")) == 1


def test_put_param_adds_new_keys_to_the_root_section(tmp_path):
    path = tmp_path / "dicom.ini"
    path.write_text("[sscscp]\nMicroPACS = sscscp\nTCPPort = 104\n\n[lua]\nstartup = x\n")
    put_param(path, "NewKey", "hello")
    ini = IniFile(path)
    assert ini.param("NewKey") == "hello"
    assert ini.get("lua", "NewKey") is None
    text = path.read_text()
    assert text.index("# Parameter added by put_param on ") < text.index("NewKey") < text.index("[lua]")


def test_put_param_recognises_key_without_space(tmp_path):
    path = tmp_path / "dicom.ini"
    path.write_text("[sscscp]\nMicroPACS = sscscp\nTCPPort=104\n")
    put_param(path, "TCPPort", "7")
    assert path.read_text().count("TCPPort") == 1
    assert IniFile(path).param("TCPPort") == "7"


def test_delete_param_and_round_trip_keeps_everything_else(tmp_path):
    original = (SAMPLES / "dicom.ini.sqlite").read_text()
    path = tmp_path / "dicom.ini"
    path.write_text(original)
    put_param(path, "DebugLevel", "3")
    delete_param(path, "DebugLevel")
    after = path.read_text().splitlines()
    assert after[0].startswith("# Written by put_param on ")
    assert after[1:] == [l for l in original.splitlines() if not l.startswith("DebugLevel")]
    assert IniFile(path).param("DebugLevel") is None


def test_crlf_files_stay_crlf(tmp_path):
    path = tmp_path / "dicom.ini"
    path.write_bytes(b"[sscscp]\r\nMicroPACS = sscscp\r\nA = 1\r\n")
    put_param(path, "A", "2")
    data = path.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert IniFile(path).param("A") == "2"


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="dicom.ini: file not found"):
        IniFile(tmp_path / "dicom.ini")
