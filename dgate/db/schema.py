"""The Conquest database schema derived from dicom.sql (conquest-storage.md §3.2).

The DDL text is the original's, character for character (``MakeTableString``), so a
database we create is the one dgate 1.5.0e creates and vice versa:

* ``<column>  varchar(<len>)`` for SQL_C_CHAR, ``<column> char(8) `` for SQL_C_DATE,
  nothing for sequence markers; the first column gets `` PRIMARY KEY not null`` (not
  for the worklist, not in mode 1);
* every table ends with AccessTime, qTimeStamp, qFlags, qSpare; the image table adds
  ObjectFile and DeviceName;
* indices as listed in §3.2, including the original's ``idx_patientid`` on the *last*
  patient column.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config.kfactor import DatabaseDefinition, DBEntry

TRAILER = ", AccessTime  int, qTimeStamp   int, qFlags       int, qSpare       varchar(64)"
LEVELS = ("patient", "study", "series", "image")

UIDMODS_DDL = ("CREATE TABLE UIDMODS (MODTime int, OldUID varchar(64), MODType varchar(32), "
               "NewUID varchar(64), Stage varchar(32), Annotation varchar(64))")
UIDMODS_INDEXES = (
    "CREATE INDEX mods_old ON UIDMODS (OldUID)",
    "CREATE INDEX mods_stage ON UIDMODS (Stage)",
    "CREATE INDEX mods_joint ON UIDMODS (OldUID,Stage)",
    "CREATE INDEX mods_back ON UIDMODS (NewUID,Stage)",
)


@dataclass(frozen=True)
class Table:
    """One Conquest table: its name and dicom.sql entries (sequence markers excluded)."""

    level: str
    name: str
    entries: tuple[DBEntry, ...]

    @property
    def key(self) -> DBEntry:
        """First entry: the primary key (UniqueKey)."""
        return self.entries[0]

    @property
    def link(self) -> DBEntry:
        """Last entry: the link to the parent table (UniqueLink)."""
        return self.entries[-1]

    @property
    def columns(self) -> list[str]:
        return [e.column for e in self.entries]

    def by_tag(self, tag: int) -> DBEntry | None:
        for entry in self.entries:
            if entry.tag == tag:
                return entry
        return None

    def patient_column(self) -> DBEntry | None:
        """A 0010,0020 column other than the key/link (ImagePat, SeriesPat)."""
        for entry in self.entries[1:-1] if self.level in ("series", "image") else ():
            if entry.tag == 0x00100020:
                return entry
        return None


@dataclass(frozen=True)
class Schema:
    """All tables of a Conquest database."""

    patient: Table
    study: Table
    series: Table
    image: Table
    worklist: Table
    max_field_length: int = 0

    @classmethod
    def build(cls, definition: DatabaseDefinition, names: dict[str, str],
              max_field_length: int = 0) -> "Schema":
        tables = {}
        for level in DatabaseDefinition.LEVELS:
            entries = tuple(e for e in definition.table(level) if not e.is_sequence_marker)
            tables[level] = Table(level, names[level], entries)
        return cls(max_field_length=max_field_length, **tables)

    def table(self, level: str) -> Table:
        return getattr(self, level)

    def object_file_length(self) -> int:
        m = self.max_field_length
        return m if 0 < m <= 255 else 255

    # -- DDL ---------------------------------------------------------------------------
    def create_table_sql(self, level: str, mode: int = 0, definition: DatabaseDefinition | None = None) -> str:
        """``CREATE TABLE`` text for one table (mode 1: no primary key)."""
        table = self.table(level)
        parts = []
        for i, entry in enumerate(table.entries):
            if entry.sql_type == "SQL_C_DATE":
                text = f"{entry.column} char(8) "
            else:
                text = f"{entry.column}  varchar({entry.length})"
            if i == 0 and level != "worklist" and mode == 0:
                text += " PRIMARY KEY not null"
            parts.append(text)
        extra = TRAILER
        if level == "image":
            extra += f", ObjectFile  varchar({self.object_file_length()}), DeviceName  varchar(32)"
        return f"CREATE TABLE {table.name} ({', '.join(parts)}{extra})"

    def index_sql(self, level: str) -> list[str]:
        """``CREATE INDEX`` statements of one table in mode 0."""
        p, st, se, im = self.patient, self.study, self.series, self.image
        if level == "study":
            return [f"CREATE INDEX study_lnk ON {st.name} ({st.link.column})",
                    f"CREATE INDEX idx_patientid ON {st.name} ({p.link.column})",
                    f"CREATE INDEX idx_patientid_studyinsta ON {st.name} ({p.key.column}, {st.key.column})"]
        if level in ("series", "image"):
            table, parent = (se, st) if level == "series" else (im, se)
            prefix, pat, pair = (("series", "SeriesPat", "idx_studyinsta_seriesinst") if level == "series"
                                 else ("images", "ImagePat", "idx_seriesinst_sopinstanc"))
            out = [f"CREATE INDEX {prefix}_lnk ON {table.name} ({table.link.column})"]
            if f" {pat} " in self.create_table_sql(level):
                out.append(f"CREATE INDEX {prefix}_pat ON {table.name} ({pat})")
            out.append(f"CREATE INDEX {pair} ON {table.name} ({parent.key.column}, {table.key.column})")
            return out
        return []

    def ddl(self, mode: int = 0) -> list[str]:
        """Every statement ``InitializeTables(mode)`` creates, in the original's order."""
        statements = [self.create_table_sql("worklist", mode)]
        if mode == 2:
            return statements
        for level in LEVELS:
            statements.append(self.create_table_sql(level, mode))
            if mode == 0:
                statements.extend(self.index_sql(level))
        statements.append(UIDMODS_DDL)
        if mode == 0:
            statements.extend(UIDMODS_INDEXES)
        return statements
