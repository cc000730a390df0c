"""Modality worklist C-FIND (``QueryOnModalityWorkList``; conquest-storage.md §4.8).

Top-level keys and keys inside sequences (any depth, sequences with at most one item)
are flattened; every element whose tag is in the WorkList block becomes a column and,
when it has a value, a condition on the worklist table (same value rules as §4.3).
The response rebuilds the query's sequence structure: each query sequence gets one item
with the values of its mapped children (an empty sequence when none map). Missing
Referenced Study (0008,1110) and Referenced Patient (0008,1120) sequences are added empty,
and 0008,0005 ``ISO_IR 100`` by default.

Encoded as the original encodes it (checked against 1.5.0e with a raw-PDU SCU): (0008,0052)
in every response, empty unless the query gave one (then its value); a sequence holding an item
(ScheduledProcedureStepSequence) and its item with undefined length, empty sequences with length 0.

Converter hooks (the converter engine supplies them as callables): ``query_hook`` gets the
identifier before the query (WorkListQueryConverter0; rc 2 refuses the query, the handler
answers 0xC011), ``result_hook`` each response (ModalityWorkListQueryResultConverter0; rc 2
drops that response).
"""
from __future__ import annotations

from typing import Callable

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from .query import CHARSET, QueryBuilder, raw_element, text_element
from .values import element_bytes, from_db, response_value

REF_STUDY_SEQ, REF_PATIENT_SEQ = 0x00081110, 0x00081120
QUERY_LEVEL = 0x00080052
REFUSE = 2          # converter verdict "destroy": refuse the query / drop the response
Hook = Callable[[Dataset], int]


class WorklistRefused(Exception):
    """The WorkListQueryConverter refused the query (C-FIND status 0xC011)."""

    status = 0xC011


def mark_undefined_lengths(ds: Dataset) -> None:
    """Sequences with items get undefined length, as do their items (the original's encoding)."""
    for elem in ds:
        if elem.VR == "SQ":
            items = elem.value or []
            elem.is_undefined_length = bool(items)
            for item in items:
                item.is_undefined_length_sequence_item = True
                mark_undefined_lengths(item)


def _flatten(ds: Dataset, table, out: list, path: tuple):
    for elem in ds:
        tag = int(elem.tag)
        if tag & 0xFFFF == 0:
            continue
        if elem.VR == "SQ":
            items = elem.value or []
            if len(items) <= 1:
                out.append(("seq", tag, path))
                if items:
                    _flatten(items[0], table, out, path + (tag,))
            continue
        entry = table.by_tag(tag)
        if entry is not None:
            out.append(("key", tag, path, entry, element_bytes(ds, tag) or b""))


class WorklistQuery:
    def __init__(self, builder: QueryBuilder):
        self.builder = builder

    def find(self, identifier: Dataset, query_hook: Hook | None = None,
             result_hook: Hook | None = None) -> list[Dataset]:
        """The worklist responses to a C-FIND identifier; raises :class:`WorklistRefused`."""
        if query_hook is not None and query_hook(identifier) == REFUSE:
            raise WorklistRefused()
        b = self.builder
        table = b.schema.worklist
        flat: list = []
        _flatten(identifier, table, flat, ())
        keys = [item for item in flat if item[0] == "key"]
        conditions, params = [], []
        for _, tag, _path, entry, raw in keys:
            if raw:
                cond = b.condition(table, entry, b._text(raw))
                if cond.sql:
                    conditions.append(cond.sql)
                    params.extend(cond.params)
        columns = [f"{table.name}.{entry.column}" for _, _, _, entry, _ in keys] or [f"{table.name}.{table.key.column}"]
        name_key = next((k for k in keys if k[1] == 0x00100010), None)
        sort = b.driver.sort_key(f"{table.name}.{name_key[3].column}") if name_key else ""
        if sort and sort not in columns:
            columns.append(sort)
        sql = f"SELECT DISTINCT {', '.join(columns)} FROM {table.name}"
        if conditions:
            sql += " WHERE " + " and ".join(conditions)
        if sort:
            sql += f" ORDER BY {sort}"
        rows = b.driver.query(sql, params)
        utf8 = bool(b.settings.int("UTF8FromDB"))
        sequences = [item for item in flat if item[0] == "seq"]
        charset = self._charset()
        level = element_bytes(identifier, QUERY_LEVEL) or b""
        results = []
        for row in rows:
            ds = Dataset()
            containers = {(): ds}
            for _, tag, path in sequences:
                item = Dataset()
                parent = containers.get(path)
                if parent is None:
                    continue
                containers[path + (tag,)] = item
                parent.add(DataElement(tag, "SQ", Sequence([item])))
            for (_, tag, path, entry, _raw), text in zip(keys, row):
                target = containers.get(path)
                if target is not None:
                    value = from_db(text, utf8).rstrip(" ")
                    target[tag] = raw_element(tag, response_value(value, entry))
            # a query sequence whose children mapped to nothing is returned empty
            for _, tag, path in sequences:
                child = containers.get(path + (tag,))
                parent = containers.get(path)
                if child is not None and len(child) == 0 and parent is not None:
                    parent[tag].value = Sequence([])
            for seq_tag in (REF_STUDY_SEQ, REF_PATIENT_SEQ):
                if seq_tag not in ds:
                    ds.add(DataElement(seq_tag, "SQ", Sequence([])))
            if charset:
                ds[CHARSET] = text_element(CHARSET, f"ISO_IR {charset}", "CS")
            ds[QUERY_LEVEL] = raw_element(QUERY_LEVEL, level, "CS")
            mark_undefined_lengths(ds)
            if result_hook is not None and result_hook(ds) == REFUSE:
                continue
            results.append(ds)
        return results

    def _charset(self) -> int:
        s = self.builder.settings
        legacy = s.int("WorkListReturnsISO_IR_100")
        if legacy >= 0:
            return legacy * 100
        return s.int("WorkListReturnsISO_IR")
