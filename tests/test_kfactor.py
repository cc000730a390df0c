"""dicom.sql lexer and grammar (conquest-storage.md §2) and ``dgate -k`` output."""
import pytest

from dgate.config.errors import ConfigError
from dgate.config.kfactor import parse_kfactor, load_kfactor, tokenize

from conftest import SAMPLES, run_dgate


def test_shipped_sqlite_definition():
    d = load_kfactor(SAMPLES / "dicom.sql.sqlite")
    assert [e.column for e in d.patient] == ["PatientID", "PatientNam", "PatientBir", "PatientSex"]
    assert len(d.study) == 14 and d.study[0].column == "StudyInsta" and d.study[-1].column == "PatientID"
    assert d.study[2].dicom_type == "DT_DATE"          # DT_TIME is read as DT_DATE
    assert d.study[9].dicom_type == "DT_MSTR" and d.study[9].column == "StudyModal"
    assert len(d.series) == 17 and d.series[-1].column == "StudyInsta"
    assert len(d.image) == 21 and d.image[-1].column == "SeriesInst"
    assert d.image[14].column == "QRows" and d.image[14].dicom_type == "DT_UINT16"
    assert len(d.worklist) == 26
    assert d.worklist[10].dicom_type == "DT_STARTSEQUENCE" and d.worklist[10].length == 0
    assert d.worklist[14].hl7 == "OBR.7.DATE"
    assert (d.image[0].group, d.image[0].element) == (0x0008, 0x0018)


def test_shipped_dbase_definition_is_denormalised():
    d = load_kfactor(SAMPLES / "dicom.sql.dbase")
    assert len(d.series) == 17 + 7 and len(d.image) == 21 + 16
    assert d.image[-1].column == "SeriesInst" and d.image[19].column == "ImagePat"


@pytest.mark.parametrize("variant", ["sqlite", "dbase"])
def test_dgate_k_golden_output(workdir, variant):
    (workdir / "dicom.sql").write_bytes((SAMPLES / f"dicom.sql.{variant}").read_bytes())
    result = run_dgate(["-k"], workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (SAMPLES / f"golden_k_{variant}.txt").read_text()
    line = "0x0010,0x0030  PatientBir     8  SQL_C_DATE    DT_DATE (DA)            \n"
    assert line in result.stdout


def test_lexer_finds_tokens_inside_words():
    words = [t.text for t in tokenize('{0x0010,0x0020,"PatientID",64,SQL_C_CHAR,DT_UINT16}')]
    assert words == ["{", "0x0010", ",", "0x0020", ",", '"', "PatientID", '"', ",", "64", ",",
                     "SQL_C_CHAR", ",", "DT_UINT16", "}"]


def test_truncation_and_max_length():
    text = '*Patient* { { 0x10, 0x20, "PatientID", 64, SQL_C_CHAR, DT_STR } }' \
           '*Study* { { 0x20, 0xd, "StudyInstanceUID", 64, SQL_C_CHAR, DT_UI } }' \
           '*Series* { { 0x20, 0xe, "SeriesInstanceUID", 64, SQL_C_CHAR, DT_UI } }' \
           '*Image* { { 8, 0x18, "SOPInstanceUID", 64, SQL_C_CHAR, DT_UI } }'
    d = parse_kfactor(text, truncate=0, max_length=32)
    assert d.study[0].column == "StudyInstanceUID" and d.study[0].length == 32
    assert d.image[0].group == 8
    assert parse_kfactor(text).series[0].column == "SeriesInst"


BROKEN = [
    ("# hash\n*Patient* {}", 1, "Parse error"),
    ('*Patient* {\n { 0x10, 0x20, "PatientID", 64, SQL_C_CHAR }\n}', 2, "expected ','"),
    ('*Patient* {\n { 0x10, 0x20, "PatientID", 64, SQL_C_VARCHAR, DT_STR }\n}', 2, "Unknown SQL Type"),
    ('*Patient* {\n { 0x10, 0x20, "PatientID", 64, SQL_C_CHAR, DT_TEXT }\n}', 2, "unknown DICOM type"),
    ('*Patient* {\n { 0x10, zz, "PatientID", 64, SQL_C_CHAR, DT_STR }\n}', 2, "expected a number"),
    ('/* open comment\n*Patient* {}', 1, "never closed"),
    ('*Patient* {\n { 0x10, 0x20, "' + "X" * 40 + '", 64, SQL_C_CHAR, DT_STR }\n}', 2, "longer than 31"),
    ('*Patient* {\n { 0x10, 0x20, "PatientID", 64, SQL_C_CHAR, DT_STR }\n', 2, "unexpected end of file"),
]


@pytest.mark.parametrize("text,line,message", BROKEN)
def test_broken_files_name_file_line_and_expectation(text, line, message):
    with pytest.raises(ConfigError) as err:
        parse_kfactor(text, "dicom.sql")
    assert err.value.line == line
    assert message in str(err.value)
    assert str(err.value).startswith(f"dicom.sql:{line}:")


def test_missing_block_is_an_error():
    with pytest.raises(ConfigError, match=r"\*Study\* block is missing"):
        parse_kfactor('*Patient* { { 0x10, 0x20, "PatientID", 64, SQL_C_CHAR, DT_STR } }')


def test_dgate_reports_broken_dicom_sql(workdir):
    (workdir / "dicom.sql").write_text("*Patient* {\n { 0x10 }\n}\n")
    result = run_dgate(["-k"], workdir)
    assert result.returncode == 1
    assert "dicom.sql:2: expected ','" in result.stderr
