"""acrnema.map (conquest-storage.md §5.1) and dgatesop.lst (§5.2)."""
import pytest

from dgate.config.acrnema import ACRNemaMap
from dgate.config.defaults import render_default_soplist, storage_sop_classes
from dgate.config.errors import ConfigError
from dgate.config.soplist import SopList

from conftest import REPO, SAMPLES, run_dgate


def test_shipped_map_and_lookup_rules():
    amap = ACRNemaMap.load(SAMPLES / "acrnema.map")
    assert [e.ae for e in amap.entries] == ["CONQUESTSRV1", "V*", "W*", "S*"]
    a = amap.lookup("CONQUESTSRV1  ")
    assert (a.host, a.port, a.compression) == ("127.0.0.1", 5678, "un")
    assert amap.lookup("conquestsrv1").host == "127.0.0.1"          # pass 2: case-insensitive
    assert amap.lookup("vhost").port == 1234                         # wildcard, case-insensitive
    assert amap.lookup("SOMEONE").port == 5678
    assert amap.lookup("UNKNOWN") is None


def test_wildcard_host_and_port_substitution():
    amap = ACRNemaMap.parse("PC* 192.168.1.* 40* j2\nX   host 1\n")
    a = amap.lookup("PC17")
    assert (a.host, a.port, a.compression) == ("192.168.1.17", 4017, "j2")
    assert amap.lookup("X").compression == "un"


def test_comments_keep_entries_apart_and_warn():
    text = "/* banner\n spanning */\nA h 1 un // trailing\n# own line\nB h 2 j2\n; semicolon\nC h 3\n"
    amap = ACRNemaMap.parse(text)
    assert [(e.ae, e.compression) for e in amap.entries] == [("A", "un"), ("B", "j2"), ("C", "un")]
    warnings = [str(w) for w in amap.warnings]
    assert any("acrnema.map:3: comment after an entry" in w for w in warnings)
    assert any("acrnema.map:6: ';' comment line" in w for w in warnings)


def test_broken_map_lines_are_errors():
    with pytest.raises(ConfigError, match=r"acrnema.map:2: expected 'AE host port"):
        ACRNemaMap.parse("A h 1\nONLYAE host\n")
    with pytest.raises(ConfigError, match="never closed"):
        ACRNemaMap.parse("/* open\nA h 1\n")


def test_write_amap_round_trip(tmp_path):
    amap = ACRNemaMap.load(SAMPLES / "acrnema.map")
    amap.put(99, "NEW", "10.0.0.1", "104", "")
    amap.put(0, "CONQUESTSRV1", "localhost", "5678", "j2")
    assert amap.delete(1) and not amap.delete(50)
    amap.write(tmp_path / "acrnema.map")
    again = ACRNemaMap.load(tmp_path / "acrnema.map")
    assert [(e.ae, e.host, e.port, e.compression) for e in again.entries] == [
        ("CONQUESTSRV1", "localhost", "5678", "j2"), ("W*", "*", "666", "un"),
        ("S*", "*", "5678", "un"), ("NEW", "10.0.0.1", "104", "un")]
    assert "NEW               10.0.0.1                       104        un              \n" in \
        (tmp_path / "acrnema.map").read_text()


def test_dgate_m_golden(workdir):
    (workdir / "acrnema.map").write_bytes((SAMPLES / "acrnema.map").read_bytes())
    result = run_dgate(["-v", "-m"], workdir)
    assert result.returncode == 0
    assert result.stdout == (
        "**\tAE / IP-PORT Map dump\n\n"
        "CONQUESTSRV1      127.0.0.1                      5678       un              \n"
        "V*                *                              1234       un              \n"
        "W*                *                              666        un              \n"
        "S*                *                              5678       un              \n")


def test_soplist_parsing_and_acceptance():
    lst = SopList.parse(
        "# comment\n"
        "Verification 1.2.840.10008.1.1 sop\n"
        "CT 1.2.840.10008.5.1.4.1.1.2 Abstract\r\n"
        "JPEG 1.2.840.10008.1.2.4.50 transfer LittleEndianExplicit\n"
        "Implicit 1.2.840.10008.1.2 TRANSFER\n"
        "Me CONQUESTSRV1 LocalAE\n"
        "Broken line\n"
        "X 1.2.3 weird\n")
    assert [e.uid for e in lst.sop] == ["1.2.840.10008.1.1", "1.2.840.10008.5.1.4.1.1.2"]
    assert lst.accepts_sop("1.2.840.10008.5.1.4.1.1.2") and not lst.accepts_sop("1.2.3")
    assert lst.accepts_remote_ae("ANYONE")                 # empty list accepts everything
    assert lst.accepts_local_ae("CONQUESTSRV1    ") and not lst.accepts_local_ae("conquestsrv1")
    assert lst.choose_transfer(["1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.50",
                                "1.2.840.10008.1.2"]) == "1.2.840.10008.1.2.4.50"
    assert lst.choose_transfer(["1.2.840.10008.1.2.5"]) is None
    warnings = [str(w) for w in lst.warnings]
    assert "dgatesop.lst:7: expected 'name UID type'" in warnings[0]
    assert "dgatesop.lst:8: unknown type 'weird'" in warnings[1]


def test_put_sop_rewrites_file(tmp_path):
    lst = SopList.load(REPO / "conf" / "dgatesop.lst")
    lst.put("sop", 10_000, "1.2.3.4", "MyPrivateStorage")
    lst.put("remoteae", 0, "MODALITY1", "CT1")
    lst.write(tmp_path / "dgatesop.lst", command="put_sop")
    again = SopList.load(tmp_path / "dgatesop.lst")
    assert again.accepts_sop("1.2.3.4") and again.remoteae[0].uid == "MODALITY1"
    assert len(again.sop) == len(lst.sop) and len(again.transfer) == len(lst.transfer)
    assert "# File written by put_sop on: " in (tmp_path / "dgatesop.lst").read_text()
    assert f"{'MyPrivateStorage':<42} {'1.2.3.4':<44} sop" in (tmp_path / "dgatesop.lst").read_text()


def test_shipped_soplist_is_generated_and_complete():
    text = (REPO / "conf" / "dgatesop.lst").read_text()
    assert text == render_default_soplist(), "regenerate conf/dgatesop.lst with render_default_soplist()"
    lst = SopList.parse(text)
    assert not lst.warnings
    for _name, uid in storage_sop_classes():
        assert lst.accepts_sop(uid)
    for ts in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90",
               "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1"):
        assert lst.accepts_transfer(ts)
    assert lst.accepts_sop("1.2.840.10008.5.1.4.31")
    assert lst.accepts_sop("1.2.826.0.1.3680043.2.135.1066.5.1.4.1.2.2.2")


def test_a_missing_file_is_named(tmp_path):
    """acrnema.map, dgatesop.lst and dicom.sql share one reader: a missing file is a
    ConfigError naming it; bytes beyond ASCII are read as Latin-1."""
    from dgate.config.errors import read_config_text
    from dgate.config.kfactor import load_kfactor
    for load in (ACRNemaMap.load, SopList.load, load_kfactor):
        with pytest.raises(ConfigError) as info:
            load(tmp_path / "missing.file")
        assert str(info.value) == f"{tmp_path / 'missing.file'}: file not found"
    (tmp_path / "latin").write_bytes(b"caf\xe9\r\n")
    assert read_config_text(tmp_path / "latin") == "caf\u00e9\r\n"
