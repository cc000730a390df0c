"""The statement loop of the converter language (conquest-lua-web.md §8.2).

A converter value is split into statements at ``;`` outside double quotes (``lua:``
swallows the rest of the line), each statement is ``%``-expanded (:mod:`.substitute`)
and dispatched by case-insensitive prefix through a verb table (:mod:`.verbs`). ``{``/
``}`` open and close blocks; a false condition (rc 4) skips the next statement or
block. Import lines end on rc 2, 3, 5, 6; export lines on 3, 5.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from pydicom.dataset import Dataset

from .context import ConvertContext
from .elements import Loader, names_for
from .rc import EXPORT_ENDS, IMPORT_ENDS, RC
from .substitute import expand


def split_statement(text: str) -> tuple[str, str]:
    """(first statement, remainder): split at the first ``;`` outside quotes, spaces
    after it removed; ``lua:`` outside quotes before any ``;`` takes the rest."""
    in_string = False
    lower = text.lower()
    for k, ch in enumerate(text):
        if ch == '"':
            in_string = not in_string
        if ch == ";" and not in_string:
            return text[:k], text[k + 1:].lstrip(" ")
        if not in_string and lower.startswith("lua:", k):
            return text, ""
    return text, ""


_REPORTED: set[tuple] = set()


class ScriptError(Exception):
    """A statement that cannot be parsed (reported once per ini key and position)."""


class Run:
    """The state of one converter call: the object, the context and ``rc``.

    ``dataset`` may be given lazily (export converters read the stored file only when a
    statement needs it) through ``load``.
    """

    def __init__(self, ctx: ConvertContext, dataset: Dataset | None, export: bool = False,
                 load: Callable[[], Dataset | None] | None = None, depth: int = 0):
        self.ctx = ctx
        self._ds = dataset
        self._load = load
        self.export = export
        self.rc: int = RC.OK
        self.retry = False              # export: ask the queue to try again later
        self.part = 0
        self.depth = depth
        self.calling = ctx.calling
        self.called = ctx.called
        self.names = names_for(ctx.config)

    # -- the object ------------------------------------------------------------------------
    def dataset(self) -> Dataset | None:
        if self._ds is None and self._load is not None:
            self._ds = self._load()
            self._load = None
        return self._ds

    def replace_dataset(self, ds: Dataset) -> None:
        """Swap the object's content in place (``process with``, ``compression``)."""
        current = self.dataset()
        if current is None:
            self._ds = ds
            return
        if current is ds:               # changed in place (e.g. decompression without a codec)
            return
        current.clear()
        current.update(ds)
        if hasattr(ds, "file_meta"):
            current.file_meta = ds.file_meta

    # -- substitution sources (substitute.Source) ---------------------------------------------
    def _value(self, keyword: str) -> str:
        ds = self.dataset()
        if ds is None or keyword not in ds:
            return ""
        from .elements import format_element
        return format_element(ds[keyword])

    def file_name(self) -> str:
        if not self.ctx.file_name:
            ds = self.dataset()
            if ds is not None:
                self.ctx.file_name = would_be_file_name(self.ctx, ds)
        return self.ctx.file_name

    def modality(self) -> str:
        return self.ctx.modality if self.ctx.modality is not None else self._value("Modality")

    def station(self) -> str:
        if self.ctx.move_destination:
            return self.ctx.move_destination
        return self.ctx.station if self.ctx.station is not None else self._value("StationName")

    def sop(self) -> str:
        return self.ctx.sop if self.ctx.sop is not None else self._value("SOPInstanceUID")

    def patient_id(self) -> str:
        if self.export and self.ctx.patient_id:
            return self.ctx.patient_id
        return self._value("PatientID")

    def variable(self, name: str) -> str:
        return self.ctx.variables.get(name, "").rstrip(" ")

    def change_uid(self, uid: str) -> str:
        return self.ctx.db().change_uid(uid, "percente")

    def change_uid_back(self, uid: str) -> str:
        from .uidmods import change_back
        return change_back(self.ctx, uid) or ""

    def new_uid(self) -> str:
        from ..uids import gen_uid
        return gen_uid(self.ctx.settings.str("UIDPrefix"))

    def db_value(self, level: str, tag: int) -> str:
        from .dblookup import lookup
        ds = self.dataset()
        return lookup(self.ctx, ds, level, tag) if ds is not None else ""

    def alias(self, letter: str, value: str) -> str:
        path = self.ctx.base_dir() / f"aliasfileq{letter}.txt"
        try:
            lines = path.read_text("latin-1").splitlines()
        except OSError:
            return value
        for line in lines:
            old, tab, new = line.partition("\t")
            if tab and old.lower() == value.lower():
                return new
        return value

    def loader(self) -> Loader | None:
        from .dblookup import load_object
        return lambda key: load_object(self.ctx, key)

    # -- logging -------------------------------------------------------------------------
    def log(self, text: str) -> None:
        if self.ctx.number >= -1:
            self.ctx.logs.operator.printf(f"{self.ctx.label(self.part)}{text}\n")

    def debug(self, text: str) -> None:
        if self.ctx.number >= -1:
            self.ctx.logs.debug.printf(f"{self.ctx.label(self.part)}{text}\n")

    def error(self, text: str) -> None:
        """``*** Importconverter0.1<text>`` on the operator log (text starts with ':' or ' ')."""
        if self.ctx.number >= -2:
            self.ctx.logs.operator.printf(f"*** {self.ctx.label(self.part)}{text}\n")

    def error_once(self, text: str) -> None:
        """An error about the statement itself (syntax): reported once per converter key,
        statement position and text, not once per object."""
        key = (self.ctx.family, self.ctx.number, self.part, text)
        if key in _REPORTED:
            return
        if len(_REPORTED) > 10000:
            _REPORTED.clear()
        _REPORTED.add(key)
        self.error(text)

    # -- running -------------------------------------------------------------------------
    def run_line(self, text: str) -> int:
        """Run one converter value; returns the final rc."""
        from .verbs import dispatch
        skipping = 0
        self.rc = RC.OK
        self.part = 0
        rest = text
        ends = EXPORT_ENDS if self.export else IMPORT_ENDS
        while True:
            if skipping or self.rc == RC.SKIP:
                if rest.startswith("{"):
                    skipping += 1
                    self.rc = RC.NONE
                elif rest.startswith("}"):
                    skipping -= 1
                    self.rc = RC.NONE
            statement, rest = split_statement(rest)
            line = expand(statement, self)
            if skipping:
                self.debug(" skipped")
            elif self.rc == RC.SKIP:
                self.rc = RC.NONE
                self.debug(" not executed because of previous statement")
            else:
                try:
                    dispatch(self, line, statement)
                except ScriptError as exc:
                    self.error_once(f": syntax error in '{statement}': {exc}")
                except Exception as exc:  # a failing statement must not break the pipeline
                    self.error(f": failed '{line}': {exc}")
            if not rest:
                break
            self.part += 1
            if self.rc in ends:
                break
        return self.rc

    def nested(self, text: str) -> int:
        """``call``/``script``/``[scripts]``: run ``text`` on the same object (N = -1) with the
        import-side interpreter, also from an export converter (as 1.5.0e does: there it works
        on the object read from the stored file, and its changes are not saved)."""
        if self.depth > 20:
            self.error(": converter scripts nested too deep")
            return RC.REJECT if not self.export else RC.STOP
        # as CallImportConverterN(…, -1, NULL, NULL, NULL, …): %m %s %o come from the object
        ctx = self.ctx.child(number=-1, modality=None, station=None, sop=None, move_destination="")
        inner = Run(ctx, self.dataset(), False, depth=self.depth + 1)
        rc = inner.run_line(text)
        self._ds = inner._ds
        self.ctx.storage = ctx.storage or self.ctx.storage
        self.ctx.test_mode = ctx.test_mode or self.ctx.test_mode
        self.ctx.virtual_mask = ctx.virtual_mask if ctx.virtual_mask is not None else self.ctx.virtual_mask
        return rc

    def run_file(self, path: Path) -> int:
        """A converter script file: each line not starting with ``#`` or ``;`` is a line,
        until return, destroy or reject."""
        rc: int = RC.OK
        for raw in path.read_text("latin-1").splitlines():
            if raw and raw[0] not in "#;":
                rc = self.nested(raw)
                if rc in (RC.RETURN, RC.DESTROY, RC.REJECT):
                    break
        return rc


def would_be_file_name(ctx: ConvertContext, ds: Dataset) -> str:
    """``%f`` on the import side: the path the object would get (FileNameSyntax on the
    first MAG device)."""
    from ..store.devices import devices
    from ..store.filenames import UnsafeFileName, generate_file_name
    try:
        name = generate_file_name(ds, ctx.settings.str("FileNameSyntax"), ctx.calling, ctx.called,
                                  ctx.settings.int("MaxFileNameLength"))
    except UnsafeFileName:
        return ""
    mags = devices(ctx.settings, "MAG")
    root = mags[0].root if mags else ""
    if root and not root.endswith(("/", "\\")):
        root += "/"
    return root + name


def run_script(text: str, dataset: Dataset | None, context: ConvertContext, export: bool = False) -> int:
    """Run converter statements on ``dataset`` (Lua's ``script()``; ``call``)."""
    return Run(context, dataset, export).run_line(text)
