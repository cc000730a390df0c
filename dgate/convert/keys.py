"""The converter keys of dicom.ini and their filters (conquest-lua-web.md §8.1).

:class:`Converters` is what every server path calls; each method runs the converters of
one key family on a pydicom Dataset and returns a :class:`Verdict`:

========================  ===========================================  =====================
method                    keys                                          caller
========================  ===========================================  =====================
run_import                ImportConverter0..ImportConverters-1          ingest (after FixImage)
run_query                 QueryConverter0                               C-FIND request
run_query_result          QueryResultConverter0                         each C-FIND answer
run_worklist_query        WorkListQueryConverter0                       worklist C-FIND
run_worklist_result       ModalityWorkListQueryResultConverter0         each worklist answer
run_retrieve              RetrieveConverter0                            C-MOVE/C-GET request
run_retrieve_result       RetrieveResultConverter0                      each object sent
run_merge_series/studies  MergeSeriesConverter0 / MergeStudiesConverter0  mergeseries/-study
run_archive               ArchiveConverter0                             archival copy
run_move_device           MoveDeviceConverter0                          movedatatodevice
run_rejected              RejectedImageConverter0                       store failed in DB
run_rejected_worklist     RejectedImageWorkListConverter0               worklist match failed
run_virtual_query         VirtualServerQueryConverter0                  query to a virtual AE
run_virtual_result        VirtualServerQueryResultConverter0            its answers
run_regen / regen_fail    RegenConverter0 / RegenFailConverter0         regeneration
run_compression(n)        CompressionConverter0..9                      compression ``s0``…``s9``
========================  ===========================================  =====================

Filters ``<Prefix>Modality<N>`` and ``<Prefix>StationName<N>`` apply only when the caller
passes modality/station (incoming images); ``<Prefix>CallingAE<N>`` and
``<Prefix>CalledAE<N>`` always (default ``*``). A ``[lua]`` section key of the same name
holds a Lua chunk run instead. A converter whose line cannot be run is reported once
(key and position) and skipped; the rest of the pipeline keeps working.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from .context import ConvertContext
from .luahook import run_lua
from .match import match
from .rc import RC
from .script import Run, split_statement


@dataclass
class Verdict:
    """What a converter family decided."""

    rc: int = RC.NONE
    ran: bool = False
    storage: str = ""                 # ``storage MAGn``
    test_mode: str = ""
    virtual_mask: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def destroyed(self) -> bool:
        return self.rc == RC.DESTROY

    @property
    def rejected(self) -> bool:
        return self.rc == RC.REJECT

    @property
    def retry(self) -> bool:
        return self.rc == RC.RETRY

    @property
    def deferred(self) -> bool:
        return self.rc == RC.DEFER


def configured(config, key: str) -> bool:
    """A converter key is set, in the root section of dicom.ini or in ``[lua]``."""
    return bool(config.settings.raw(key) or config.ini.get("lua", key))


def converter_numbers(config, family: str) -> tuple[int, ...]:
    """The N of ``<family>ConverterN`` keys that are set (:func:`configured`), for
    N < ``<family>Converters`` (gaps allowed; Conquest looks each up per object). Kept
    until dicom.ini is read again, so an object does not pay ~100 lookups."""
    def numbers() -> tuple[int, ...]:
        count = max(config.settings.int(f"{family}Converters"), 0)
        return tuple(n for n in range(count) if configured(config, f"{family}Converter{n}"))
    return config.ini.derived(("converter numbers", family), numbers)


class Converters:
    """Runs converter keys for one configuration; thread-safe (no shared run state)."""

    def __init__(self, config, logs=None):
        from ..log import logs as process_logs
        self.config = config
        self.logs = logs or process_logs
        self._reported: set[tuple[str, str]] = set()

    # -- lookup ------------------------------------------------------------------------
    def line(self, key: str) -> tuple[str, bool]:
        """(text, is_lua) of a converter key: the ``[lua]`` section wins."""
        lua = self.config.ini.get("lua", key)
        if lua:
            return lua, True
        return self.config.settings.str(key, ""), False

    def _filters_pass(self, prefix: str, n: int, ctx: ConvertContext) -> bool:
        s = self.config.settings
        if ctx.modality is not None and not match(ctx.modality, s.str(f"{prefix}Modality{n}", "*") or "*"):
            return False
        if ctx.station is not None and not match(ctx.station, s.str(f"{prefix}StationName{n}", "*") or "*"):
            return False
        if not match(ctx.calling, s.str(f"{prefix}CallingAE{n}", "*") or "*"):
            return False
        return match(ctx.called, s.str(f"{prefix}CalledAE{n}", "*") or "*")

    def report_once(self, key: str, message: str) -> None:
        if (key, message) not in self._reported:
            self._reported.add((key, message))
            self.logs.operator.printf(f"*** {key}: {message}\n")

    def run_key(self, family: str, n: int, ds: Dataset | None, ctx: ConvertContext, filters: bool = True) -> Verdict:
        """Run ``<family>Converter<n>`` (with its filters) on ``ds``."""
        key = f"{family}Converter{n}"
        text, is_lua = self.line(key)
        verdict = Verdict()
        if not text:
            return verdict
        if filters and not is_lua and not self._filters_pass(family, n, ctx):   # [lua] keys: no filters
            return verdict
        ctx.family, ctx.number = family, n
        if is_lua:
            run = Run(ctx, ds)
            rc = run_lua(text, run, preset=RC.OK)
        else:
            problem = check_line(text)
            if problem:
                self.report_once(key, problem)
            run = Run(ctx, ds)
            rc = run.run_line(text)
        verdict.rc, verdict.ran = rc, True
        verdict.storage, verdict.test_mode, verdict.virtual_mask = ctx.storage, ctx.test_mode, ctx.virtual_mask
        return verdict

    # -- families ----------------------------------------------------------------------
    def run_import(self, ds: Dataset, ctx: ConvertContext) -> Verdict:
        """ImportConverterN for an incoming object, N = 0 … ImportConverters-1 (gaps allowed);
        stops at destroy (rc 2) or reject (rc 6)."""
        total = Verdict()
        for n in converter_numbers(self.config, "Import"):
            verdict = self.run_key("Import", n, ds, ctx)
            if verdict.ran:
                total.rc, total.ran = verdict.rc, True
                total.storage, total.test_mode = verdict.storage or total.storage, verdict.test_mode
                total.virtual_mask = verdict.virtual_mask
            if verdict.rc in (RC.DESTROY, RC.REJECT):
                break
        return total

    def _special(self, family: str, ds: Dataset | None, ctx: ConvertContext) -> Verdict:
        return self.run_key(family, 0, ds, ctx)

    def run_query(self, identifier: Dataset, ctx: ConvertContext) -> Verdict:
        """QueryConverter0 on a C-FIND identifier; destroy → status 0xC011."""
        return self._special("Query", identifier, ctx)

    def run_query_result(self, record: Dataset, ctx: ConvertContext) -> Verdict:
        """QueryResultConverter0 on one answer; destroy → the record is not returned."""
        return self._special("QueryResult", record, ctx)

    def run_worklist_query(self, identifier: Dataset, ctx: ConvertContext) -> Verdict:
        return self._special("WorkListQuery", identifier, ctx)

    def run_worklist_result(self, record: Dataset, ctx: ConvertContext) -> Verdict:
        return self._special("ModalityWorkListQueryResult", record, ctx)

    def run_retrieve(self, identifier: Dataset, ctx: ConvertContext) -> Verdict:
        """RetrieveConverter0 on a C-MOVE/C-GET identifier (``%s`` = move destination);
        destroy → status 0xC013."""
        return self._special("Retrieve", identifier, ctx)

    def run_retrieve_result(self, obj: Dataset, ctx: ConvertContext) -> Verdict:
        """RetrieveResultConverter0 on each object before it is sent; destroy → not sent."""
        return self._special("RetrieveResult", obj, ctx)

    def run_merge_series(self, obj: Dataset, ctx: ConvertContext) -> Verdict:
        return self._special("MergeSeries", obj, ctx)

    def run_merge_studies(self, obj: Dataset, ctx: ConvertContext) -> Verdict:
        return self._special("MergeStudies", obj, ctx)

    def run_archive(self, obj: Dataset, ctx: ConvertContext) -> Verdict:
        return self._special("Archive", obj, ctx)

    def run_move_device(self, obj: Dataset, ctx: ConvertContext) -> Verdict:
        return self._special("MoveDevice", obj, ctx)

    def run_rejected(self, obj: Dataset, ctx: ConvertContext) -> Verdict:
        """RejectedImageConverter0 after the database refused an object; rc 7 → retry once."""
        return self._special("RejectedImage", obj, ctx)

    def run_rejected_worklist(self, obj: Dataset, ctx: ConvertContext) -> Verdict:
        return self._special("RejectedImageWorkList", obj, ctx)

    def run_virtual_query(self, identifier: Dataset, ctx: ConvertContext) -> Verdict:
        return self._special("VirtualServerQuery", identifier, ctx)

    def run_virtual_result(self, record: Dataset, ctx: ConvertContext) -> Verdict:
        return self._special("VirtualServerQueryResult", record, ctx)

    def run_regen(self, obj: Dataset, ctx: ConvertContext) -> Verdict:
        return self._special("Regen", obj, ctx)

    def run_regen_fail(self, obj: Dataset, ctx: ConvertContext) -> Verdict:
        return self._special("RegenFail", obj, ctx)

    def run_compression(self, n: int, obj: Dataset, ctx: ConvertContext) -> Verdict:
        """CompressionConverterN for compression code ``s<n>``."""
        return self.run_key("Compression", n, obj, ctx)

    def export_count(self) -> int:
        return max(0, min(self.config.settings.int("ExportConverters"), 20))

    def export_matches(self, n: int, ctx: ConvertContext) -> bool:
        """ExportModality/StationName/CallingAE/CalledAE filters of ExportConverterN."""
        return self._filters_pass("Export", n, ctx)


def check_line(text: str) -> str:
    """A syntax problem of a converter line ('' when none): unbalanced quotes or braces."""
    depth = 0
    rest = text
    position = 0
    while rest:
        statement, after = split_statement(rest)
        if statement.count('"') % 2:
            return f"unterminated string in statement at position {position}: {statement!r}"
        if statement.startswith("{"):
            depth += 1
        elif statement.startswith("}"):
            depth -= 1
            if depth < 0:
                return f"'}}' without '{{' at position {position}"
        if statement.lower().startswith("lua:"):
            break
        position += len(rest) - len(after)
        rest = after
    if depth > 0:
        return "'{' block not closed"
    return ""
