"""Rows and lines as 1.5.0e writes them (issue 17): UIDMODS.Annotation NULL, and ``dgate -i``
without a line for the UIDMODS table (checked against the original's output)."""
from __future__ import annotations

from conftest import run_dgate
from dbhelpers import make_db

ORIGINAL_I_STDERR = ("Dropping Existing tables (if-any)\nWorklist is empty\nDropping worklist\n"
                     "Dropping other tables\nWorkList Database\nPatient Database\nStudy Database\n"
                     "Series Database\nImage Database\n")


def test_uidmods_annotation_is_null(tmp_path, driver):
    db = make_db(tmp_path, driver=driver)
    new = db.change_uid("1.2.3.4.5")
    assert db.driver.query("SELECT OldUID, MODType, NewUID, Stage, Annotation FROM UIDMODS") == [
        ("1.2.3.4.5", "--changeuid", new, "(empty)", None)]
    assert db.change_uid("1.2.3.4.5") == new


def test_initialize_tables_prints_the_originals_lines(workdir):
    result = run_dgate(["-v", "-i"], workdir)
    assert result.returncode == 0
    assert result.stdout == "Initializing Tables\n"
    assert result.stderr == ORIGINAL_I_STDERR
    again = run_dgate(["-v", "-i"], workdir)          # on existing tables: the same lines
    assert again.stdout == "Initializing Tables\n" and again.stderr == ORIGINAL_I_STDERR
