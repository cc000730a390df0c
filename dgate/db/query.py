"""C-FIND identifier → SQL (``vrtosql.cpp``; conquest-storage.md §4).

The statements have the original's shape (tables, joins, DISTINCT, sort quirks) so the
matching results are the same, but every value is a bound parameter.

Key assignment (§4.2): each identifier element goes to the first table holding its
tag, searching PATIENT: patient; STUDY: study, patient; SERIES: study, patient, series;
IMAGE: study, patient, series, image. Zero-length keys only add a result column.

Value rules (§4.3): ``**`` and `` *`` read as ``*``; ``*``/``?`` make a LIKE (``%``/``_``,
literal ``% _ [ \\`` escaped); dates and times take ranges ``a-b``, ``a-``, ``-b``
(inclusive, string comparison); UID lists ``a\\b`` become ``IN (...)``; DT_MSTR values
match one of the stored backslash-separated values; DT_ISTR compares upper-cased.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from ..config.keys import Settings
from ..config.kfactor import DBEntry
from .driver import Driver
from .schema import Schema, Table
from .values import element_bytes, from_db, response_value

LEVEL_TABLES = {
    "PATIENT": ("patient",),
    "STUDY": ("study", "patient"),
    "SERIES": ("study", "patient", "series"),
    "IMAGE": ("study", "patient", "series", "image"),
}
HIERARCHY = ("patient", "study", "series", "image")
COMPUTED = {  # tag -> (level of the query, level counted)
    0x00201200: ("PATIENT", "study"), 0x00201202: ("PATIENT", "series"),
    0x00201204: ("PATIENT", "image"), 0x00201206: ("STUDY", "series"),
    0x00201208: ("STUDY", "image"), 0x00201209: ("SERIES", "image"),
}
SORT_FIELD, LIMIT, OFFSET = 0x99990C00, 0x99990C01, 0x99990C02
RETURN_FILE, RETURN_DEVICE = 0x99990800, 0x99990801
RETRIEVE_AE = 0x00080054
CHARSET = 0x00080005
PATIENT_NAME = 0x00100010


@dataclass
class Condition:
    sql: str
    params: list


@dataclass
class Key:
    tag: int
    table: Table
    entry: DBEntry
    value: str        # query value, '' = universal match


@dataclass
class BuiltQuery:
    sql: str
    params: list
    keys: list[Key]
    computed: list[int] = field(default_factory=list)


def _vr(tag: int) -> str:
    try:
        vr = dictionary_VR(Tag(tag))
    except KeyError:
        return "UN"
    return vr.split(" or ")[0]


def raw_element(tag: int, value: bytes, vr: str | None = None) -> RawDataElement:
    """A response element holding exactly ``value`` (explicit VR little endian)."""
    return RawDataElement(Tag(tag), vr or _vr(tag), len(value), value, 0, False, True)


def text_element(tag: int, text: str, vr: str) -> RawDataElement:
    """A string element padded to even length with a space."""
    raw = text.encode("latin-1", "replace")
    return raw_element(tag, raw + (b" " if len(raw) % 2 else b""), vr)


class QueryBuilder:
    """Builds and runs Conquest queries against one database."""

    def __init__(self, driver: Driver, schema: Schema, settings: Settings, own_ae: str = ""):
        self.driver = driver
        self.schema = schema
        self.settings = settings
        self.own_ae = own_ae

    # -- helpers -----------------------------------------------------------------------
    def _find_dbe(self, tag: int) -> DBEntry | None:
        """``FindDBE``: the entry used for formatting (Image, Series, Study, Patient)."""
        for level in ("image", "series", "study", "patient"):
            entry = self.schema.table(level).by_tag(tag)
            if entry is not None:
                return entry
        return None

    def _text(self, raw: bytes) -> str:
        text = raw.decode("latin-1")
        if text.endswith(" "):
            text = text[:-1]            # SetString: one trailing space
        if self.settings.int("UTF8ToDB"):
            text = text.encode("utf-8").decode("latin-1")
        return text

    def condition(self, table: Table, entry: DBEntry, value: str) -> Condition:
        """The WHERE part for one key (``BuildSearchString``)."""
        col = f"{table.name}.{entry.column}"
        p = self.driver.text_param
        while "**" in value:
            value = value.replace("**", "*")
        value = value.replace(" *", "*").rstrip(" ")
        if entry.dicom_type == "DT_UI":
            value = value.rstrip("\0")
        dbe = self._find_dbe(entry.tag)
        kind = dbe.dicom_type if dbe else entry.dicom_type
        wildcard = "*" in value or "?" in value
        like = self.driver.escape_like(value).replace("*", "%").replace("?", "_") if wildcard else ""
        like_sql = f"{col} {self.driver.like_op} {p}{self.driver.like_escape}"

        def equals(text: str) -> Condition:
            sql, times = self.driver.exact(col, p)
            return Condition(sql, [text] * times)

        if kind == "DT_DATE":
            if wildcard:
                return Condition(like_sql, [like])
            if "-" in value:
                low, high = value.split("-", 1)
                parts, params = [], []
                if low:
                    parts.append(f"{col} >= {p}")
                    params.append(low)
                if high:
                    parts.append(f"{col} <= {p}")
                    params.append(high)
                return Condition(" and ".join(parts), params)
            return equals(value)
        if kind == "DT_UI":
            if "\\" in value:
                uids = [u.strip(" \0") for u in value.split("\\") if u.strip(" \0")]
                return Condition(f"{col} in ({', '.join([p] * len(uids))})", uids)
            return Condition(like_sql, [like]) if wildcard else equals(value)
        if kind == "DT_MSTR":
            if wildcard:
                return Condition(like_sql, [like])
            sep = self.driver.literal_backslash()
            op = self.driver.like_op
            first, times = self.driver.exact(col, p)
            return Condition(f"({first} or {col} {op} {p} or {col} {op} {p} or {col} {op} {p})",
                             [value] * times + [value + sep + "%", "%" + sep + value + sep + "%", "%" + sep + value])
        if kind == "DT_ISTR":
            if wildcard:
                return Condition(f"UPPER({col}) LIKE {p}{self.driver.like_escape}", [like.upper()])
            return Condition(f"UPPER({col}) = {p}", [value.upper()])
        return Condition(like_sql, [like]) if wildcard else equals(value)

    # -- building ----------------------------------------------------------------------
    def build(self, level: str, identifier: Dataset, count_only: bool = False,
              select: list[str] | None = None) -> BuiltQuery:
        """SQL for a query; ``select`` replaces the result columns (local callers only)."""
        level = level.strip().upper()
        search = LEVEL_TABLES[level]
        computed_enabled = bool(self.settings.int("EnableComputedFields"))
        keys: list[Key] = []
        computed: list[int] = []
        sort_field = limit = offset = ""
        for elem in identifier:
            tag = int(elem.tag)
            if tag & 0xFFFF == 0 or tag in (0x00020010, 0x00080052):
                continue
            if tag >> 16 == 0x9999:
                raw = (element_bytes(identifier, tag) or b"").decode("latin-1").strip(" \0")
                if tag == SORT_FIELD:
                    sort_field = raw
                elif tag == LIMIT:
                    limit = raw
                elif tag == OFFSET:
                    offset = raw
                continue
            if tag in COMPUTED and computed_enabled:
                if COMPUTED[tag][0] == level:
                    computed.append(tag)
                continue
            for name in search:
                table = self.schema.table(name)
                entry = table.by_tag(tag)
                if entry is not None:
                    value = element_bytes(identifier, tag) or b""
                    keys.append(Key(tag, table, entry, self._text(value) if value else ""))
                    break
        return self._assemble(level, keys, computed, sort_field, limit, offset, count_only, select)

    def _assemble(self, level: str, keys: list[Key], computed: list[int], sort_field: str,
                  limit: str, offset: str, count_only: bool, select: list[str] | None = None) -> BuiltQuery:
        s = self.schema
        level_table = {"PATIENT": "patient", "STUDY": "study", "SERIES": "series", "IMAGE": "image"}[level]
        used = {k.table.level for k in keys}
        conditions: dict[str, list[Condition]] = {name: [] for name in HIERARCHY}
        for key in keys:
            if key.value:
                cond = self.condition(key.table, key.entry, key.value)
                if cond.sql:
                    conditions[key.table.level].append(cond)

        where: list[Condition] = []
        for lvl in ("image", "series", "patient", "study"):
            where.extend(conditions[lvl])
        joins: list[str] = []
        tables_needed = {level_table} | used
        if level_table != "patient" and "patient" in used:
            joins.append(f"{s.study.name}.{s.study.link.column} = {s.patient.name}.{s.patient.key.column}")
        if level_table in ("series", "image") and used & {"study", "patient"}:
            joins.append(f"{s.series.name}.{s.series.link.column} = {s.study.name}.{s.study.key.column}")
        if level_table == "image" and used & {"series", "study", "patient"}:
            joins.append(f"{s.image.name}.{s.image.link.column} = {s.series.name}.{s.series.key.column}")
        # FROM: the level table plus every table up to the highest one used
        index = HIERARCHY.index(level_table)
        highest = min((HIERARCHY.index(t) for t in tables_needed), default=index)
        if level_table == "patient":
            from_levels = ["patient"]
        else:
            from_levels = [HIERARCHY[i] for i in range(index, max(highest, 1) - 1, -1)]
            if "patient" in used and "patient" not in from_levels:
                from_levels.append("patient")
        from_sql = ", ".join(s.table(lvl).name for lvl in from_levels)

        columns = select or [f"{k.table.name}.{k.entry.column}" for k in keys]
        sort = self._sort(level, keys, sort_field, from_levels)
        params: list = []
        where_sql = " and ".join([c.sql for c in where] + joins)
        for cond in where:
            params.extend(cond.params)
        if count_only:
            sql = f"SELECT COUNT(1) FROM {from_sql}"
        else:
            select_cols = list(columns)
            if sort and sort not in select_cols:
                select_cols.append(sort)
            if not select_cols:
                select_cols = [f"{s.table(level_table).name}.{s.table(level_table).key.column}"]
            sql = f"SELECT DISTINCT {', '.join(select_cols)} FROM {from_sql}"
        if where_sql:
            sql += f" WHERE {where_sql}"
        if sort and not count_only:
            sql += f" ORDER BY {sort}"
        if not count_only:
            if limit.isdigit():
                sql += f" LIMIT {int(limit)}"
                if offset.isdigit():
                    sql += f" OFFSET {int(offset)}"
        return BuiltQuery(sql, params, keys, computed)

    def _sort(self, level: str, keys: list[Key], sort_field: str, from_levels: list[str]) -> str:
        """Sort rules of §4.5; a network-supplied sort field must name a known column."""
        st = self.settings
        if sort_field:
            name = sort_field[:10]
            for lvl in from_levels:
                table = self.schema.table(lvl)
                entry = next((e for e in table.entries if e.column.lower() == name.lower()), None)
                if entry is not None:
                    col = f"{table.name}.{entry.column}"
                    return self.driver.numeric(col) if "Number" in entry.column else self.driver.sort_key(col)
            return ""
        name_key = next((k for k in keys if k.tag == PATIENT_NAME), None)
        name_sort = self.driver.sort_key(f"{name_key.table.name}.{name_key.entry.column}") \
            if name_key and self.driver.implicit_name_sort else ""
        if level in ("PATIENT", "STUDY"):
            return st.str("StudyQuerySortOrder") or name_sort
        if level == "SERIES":
            return st.str("SeriesQuerySortOrder") if st.str("StudyQuerySortOrder") else ""
        return st.str("ImageQuerySortOrder")

    # -- running -----------------------------------------------------------------------
    def rows(self, level: str, identifier: Dataset) -> tuple[BuiltQuery, list[tuple]]:
        built = self.build(level, identifier)
        return built, self.driver.query(built.sql, built.params)

    def count(self, level: str, identifier: Dataset) -> int:
        built = self.build(level, identifier, count_only=True)
        rows = self.driver.query(built.sql, built.params)
        return int(rows[0][0]) if rows else 0

    def find(self, level: str, identifier: Dataset) -> list[Dataset]:
        """C-FIND responses (without 0008,0052, which the caller adds)."""
        built, rows = self.rows(level, identifier)
        utf8 = bool(self.settings.int("UTF8FromDB"))
        want_ae = RETRIEVE_AE in identifier
        iso = self.settings.int("QueriesReturnISO_IR")
        results = []
        for row in rows:
            ds = Dataset()
            values = {}
            for key, text in zip(built.keys, row):
                value = from_db(text, utf8).rstrip(" ")
                values[key.tag] = (key, value)
                raw = response_value(value, key.entry)
                ds[key.tag] = raw_element(key.tag, raw)
            if want_ae:
                ds[RETRIEVE_AE] = text_element(RETRIEVE_AE, self.own_ae[:16], "AE")
            if iso:
                ds[CHARSET] = text_element(CHARSET, f"ISO_IR {iso}", "CS")
            for tag in built.computed:
                ds[tag] = text_element(tag, str(self._computed(level, tag, values)), "IS")
            results.append(ds)
        return results

    def _computed(self, level: str, tag: int, values: dict[int, tuple[Key, str]]) -> int:
        """``ComputeField``: count rows at the counted level matching the row's values."""
        counted = COMPUTED[tag][1]
        sub = Dataset()
        for key_tag, (key, value) in values.items():
            if value:
                sub[key_tag] = raw_element(key_tag, response_value(value, key.entry))
        counted_key = self.schema.table(counted).key
        if counted_key.tag not in sub:
            sub[counted_key.tag] = raw_element(counted_key.tag, b"")
        return self.count(counted.upper(), sub)
