"""The converter language on real objects (conquest-lua-web.md §8.2–§8.7)."""
from __future__ import annotations

import time

from convhelpers import context, ct, folder, mr

from dgate.convert import RC, Converters, run_script
from dgate.convert.match import match
from dgate.convert.script import split_statement


def test_match_rules():
    assert match("anything", "*")
    assert match("CT ", "ct")
    assert match("HEAD CT", "*ad*") and not match("HEAD CT", "*xx*")
    assert match("MR1", "mr*") and not match("XMR", "mr*")
    assert match("STATION7", "*7") and not match("STATION7", "*8")


def test_split_keeps_quoted_semicolons_and_lua_takes_the_rest():
    assert split_statement('set x to "a;b"; nop') == ('set x to "a;b"', "nop")
    assert split_statement("lua:print(1); print(2)") == ("lua:print(1); print(2)", "")
    assert split_statement("nop a;   nop b") == ("nop a", "nop b")


def test_substitutions_ranges_case_and_variables(tmp_path):
    config, logs, _ = folder(tmp_path)
    ds = ct()
    ctx = context(config, logs)
    rc = run_script('set x to "%VPatientName[0,3]^"; set 0008,1030 to "%x|%u|%c|%m|%o[,4]|%V0028,0010|%%|%n"; '
                    'set 0010,1000 to "%VPatientID~"', ds, ctx)
    assert rc == RC.OK
    assert ctx.variables["x"] == "COMP"
    assert ds.StudyDescription == f"COMP|CALLER|SERVER|CT|{ds.SOPInstanceUID[-4:]}|128|%|\n"
    assert ds.OtherPatientIDs == "1cmp_ct1"[: len(ds.OtherPatientIDs)] or ds.OtherPatientIDs.islower()


def test_ranges_are_inclusive_and_clamped(tmp_path):
    config, logs, _ = folder(tmp_path)
    ds = ct()
    ds.PatientID = "ABCDEFGH"
    run_script('set 0008,1030 to "%VPatientID[2,4]-%VPatientID[,3]-%VPatientID[5,99]"', ds, context(config, logs))
    assert ds.StudyDescription == "CDE-FGH-FGH"


def test_blocks_and_conditions(tmp_path):
    config, logs, _ = folder(tmp_path)
    ds = ct()
    run_script('ifequal "%m","CT"; { set 0010,1010 to "042Y"; set 0010,0040 to "O"; }; set 0008,1030 to "after"',
               ds, context(config, logs))
    assert (ds.PatientAge, ds.PatientSex, ds.StudyDescription) == ("042Y", "O", "after")
    ds = ct()
    run_script('ifequal "%m","MR"; { set 0010,1010 to "099Y"; set 0010,0040 to "X"; }; set 0008,1030 to "after"',
               ds, context(config, logs))
    assert ds.get("PatientAge") != "099Y" and ds.PatientSex != "X" and ds.StudyDescription == "after"
    ds = ct()
    run_script('ifnumgreater "%V0028,0010","100"; set 0008,1030 to "big"; ifnotmatch "%m","c*"; '
               'set 0008,103e to "skipped"; ifempty "%V0010,2180"; set 0010,2180 to "none"', ds,
               context(config, logs))
    assert ds.StudyDescription == "big" and "SeriesDescription" not in ds and ds.Occupation == "none"
    hour = time.localtime().tm_hour
    ds = ct()
    run_script(f'between "{hour}","{hour + 1}"; set 0008,1030 to "now"; '
               f'between "{(hour + 1) % 24}","{(hour + 2) % 24}"; set 0008,103e to "never"', ds, context(config, logs))
    assert ds.StudyDescription == "now" and "SeriesDescription" not in ds


def test_set_forms_sequences_nil_format_and_setifempty(tmp_path):
    config, logs, _ = folder(tmp_path)
    ds = ct()
    ctx = context(config, logs)
    run_script('set InstitutionCodeSequence.0/CodeValue to "abc"; '
               'set ReferencedStudySequence.*/ReferencedSOPInstanceUID to "1.2"; '
               'set ReferencedStudySequence.*/ReferencedSOPInstanceUID to "1.3"; '
               'set 0010,1010 format "%%03dY" to "7"; set 0010,0040 if ""; set 0008,0080 to nil; '
               'setifempty 0010,2180 to "cook"; setifempty 0010,0010 to "never"; set 0028,0010 to "64"', ds, ctx)
    assert ds.InstitutionCodeSequence[0].CodeValue == "abc"
    assert [i.ReferencedSOPInstanceUID for i in ds.ReferencedStudySequence] == ["1.2", "1.3"]
    assert ds.PatientAge == "007Y" and ds.PatientSex == "O" and "InstitutionName" not in ds
    assert ds.Occupation == "cook" and str(ds.PatientName) == "CompressedSamples^CT1"
    assert ds.Rows == 64 and ds["Rows"].VR == "US"
    assert run_script('set 0008,1030 to "%V/0008,1110.1/0008,1155|%V*0008,0100|%V/0008,1110|%V0008,1110"',
                      ds, ctx) == RC.OK
    assert ds.StudyDescription == "1.3|abc||(sequence)"


def test_verdicts_and_stop(tmp_path):
    config, logs, _ = folder(tmp_path)
    ds = ct()
    assert run_script('destroy; set 0010,0020 to "no"', ds, context(config, logs)) == RC.DESTROY
    assert ds.PatientID != "no"
    assert run_script("reject", ds, context(config, logs)) == RC.REJECT
    assert run_script('stop; set 0010,0020 to "no"', ds, context(config, logs)) == RC.STOP
    assert run_script("retry", ds, context(config, logs, family="RejectedImage")) == RC.RETRY
    assert run_script("defer", ds, context(config, logs)) == RC.DEFER


def test_write_append_call_scripts_and_files(tmp_path):
    config, logs, sink = folder(tmp_path)
    script = 'anon = set 0010,0010 to "anon"; set 0010,0020 to "%VPatientID[0,2]"'
    (tmp_path / "dicom.ini").write_text((tmp_path / "dicom.ini").read_text() + f"\n[scripts]\n{script}\n")
    (tmp_path / "tag.cq").write_text('# comment\nset 0008,1030 to "from file"\nreturn\nset 0008,1030 to "not"\n')
    config.ini.refresh(force=True)
    ds = ct()
    run_script('write "%m%n" to out.txt; append "%V0028,0011%n" to out.txt; call anon; call tag.cq; '
               'set 0010,1010 to "done"', ds, context(config, logs))
    assert (tmp_path / "out.txt").read_text() == "CT\n128\n"
    assert str(ds.PatientName) == "anon" and ds.PatientID == "1CT"
    assert ds.StudyDescription == "from file"
    assert ds.get("PatientAge") != "done"      # 'return' in a called file ends the calling line too (1.5.0e)
    ds = ct()
    run_script("anon; nosuchscript", ds, context(config, logs))
    assert str(ds.PatientName) == "anon"
    assert "error: nosuchscript" in sink.text()


def test_newuids_consistent_and_olduids_restore(tmp_path):
    config, logs, _ = folder(tmp_path)
    a, b = ct(), ct()
    old = (a.StudyInstanceUID, a.SeriesInstanceUID, a.SOPInstanceUID, a.SOPClassUID)
    run_script("newuids", a, context(config, logs))
    run_script("newuids", b, context(config, logs))
    assert a.StudyInstanceUID != old[0] and a.SOPInstanceUID != old[2] and a.SOPClassUID == old[3]
    assert (a.StudyInstanceUID, a.SOPInstanceUID) == (b.StudyInstanceUID, b.SOPInstanceUID)
    run_script("olduids", a, context(config, logs))
    assert (a.StudyInstanceUID, a.SeriesInstanceUID, a.SOPInstanceUID) == old[:3]
    c = ct()
    run_script("newuids except 0020,000d|", c, context(config, logs))
    assert c.StudyInstanceUID == old[0] and c.SOPInstanceUID != old[2]


def test_queries_of_the_database(tmp_path):
    from dgate.db import open_database
    config, logs, _ = folder(tmp_path)
    db = open_database(config, logs)
    stored = ct()
    stored.PatientBirthDate = "19700101"
    db.add(stored, "x/1.dcm", "MAG0")
    db.close()
    ds = ct()
    ds.PatientBirthDate = ""
    run_script('set 0010,0030 to "%QP0010,0030"; set 0008,1030 to "%QS0008,0020"', ds, context(config, logs))
    assert ds.PatientBirthDate == "19700101" and ds.StudyDescription == str(stored.StudyDate)
    (tmp_path / "aliasfileqA.txt").write_text(f"{stored.PatientID}\tALIASED\n")
    run_script('set 0010,0020 to "%QAPatientID"', ds, context(config, logs))
    assert ds.PatientID == "ALIASED"


def test_scrub_and_pixel_verbs(tmp_path):
    config, logs, _ = folder(tmp_path)
    ds = ct()
    run_script("scrub -0010,00100020,priv", ds, context(config, logs))
    assert "PatientName" not in ds and "PatientID" not in ds and not any(e.tag.group & 1 for e in ds)
    ds = ct()
    run_script("crop 10,20,73,83; save bmp size 32 to small.bmp; save jpg to pic.jpg", ds, context(config, logs))
    assert (ds.Rows, ds.Columns) == (64, 64) and ds.pixel_array.shape == (64, 64)
    from PIL import Image
    assert Image.open(tmp_path / "small.bmp").size == (32, 32)
    assert Image.open(tmp_path / "pic.jpg").size == (64, 64)
    ds = ct()
    run_script("save to copy.dcm", ds, context(config, logs))
    import pydicom
    assert pydicom.dcmread(tmp_path / "copy.dcm").SOPInstanceUID == ds.SOPInstanceUID


def test_converter_keys_filters_and_lua_section(tmp_path):
    config, logs, sink = folder(tmp_path, ImportConverter0='set 0008,1030 to "zero"',
                                ImportModality0="MR", ImportConverter2='set 0008,103e to "two %u"',
                                ImportCallingAE2="CALL*", ImportConverter3="destroy",
                                ImportConverter4='set 0010,0020 to "never"')
    conv = Converters(config, logs)
    ds = ct()
    verdict = conv.run_import(ds, context(config, logs, modality="CT"))
    assert "StudyDescription" not in ds or ds.StudyDescription != "zero"
    assert ds.SeriesDescription == "two CALLER" and verdict.destroyed and ds.PatientID != "never"
    ds = mr()
    conv.run_import(ds, context(config, logs, modality="MR", calling="OTHER"))
    assert ds.StudyDescription == "zero" and ds.get("SeriesDescription") != "two OTHER"


def test_syntax_error_reported_once_and_rest_runs(tmp_path):
    config, logs, sink = folder(tmp_path, ImportConverter0='set 0008,1030 to "unterminated; set 0010,1010 to "030Y"',
                                ImportConverter1='set 0010,0040 to "F"')
    conv = Converters(config, logs)
    for _ in range(3):
        ds = ct()
        conv.run_import(ds, context(config, logs))
        assert ds.PatientSex == "F"
    assert sink.text().count("ImportConverter0: unterminated string") == 1


def test_export_side_default_is_a_shell_command(tmp_path):
    from dgate.convert.queues import run_export_line
    config, logs, _ = folder(tmp_path)
    path = tmp_path / "obj.dcm"
    ct().save_as(path, enforce_file_format=True)
    ctx = context(config, logs, family="Export", number=0, file_name=str(path), modality="CT")
    assert not run_export_line('echo %m %b > shell.txt; ifequal "%m","MR"; { echo no > no.txt; }', ctx, str(path))
    assert (tmp_path / "shell.txt").read_text().strip() == "CT obj"
    assert not (tmp_path / "no.txt").exists()
    assert run_export_line("defer", ctx, str(path))
