"""dicom.ini: Conquest's private-profile reader and the put_param/delete_param writer.

Reading follows ``MyGetPrivateProfileString`` (conquest-storage.md §1.2):

* a trailing LF, then a trailing CR, is stripped; a line whose first character is a
  space is ignored, a ``;`` line is a comment, ``#`` is *not* a comment;
* ``[name]`` starts a section, compared case-insensitively and untrimmed; repeated
  sections are merged; lines before the first header belong to no section;
* ``key = value`` splits at the first ``=``; the key loses trailing blanks only, the
  value loses surrounding blanks and then one pair of ``"`` or ``'`` quotes;
* keys are case-insensitive and the *first* occurrence wins; ``Key =`` is found and
  empty, which is not the same as missing.

The file is re-read when its modification time changes (checked at most once a second,
as the original's cache does), so edits apply to keys read at use time.

Every line the original would silently ignore or misread is reported as a
:class:`~dgate.config.errors.ConfigWarning` instead of being dropped without a word.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

from .errors import ConfigError, ConfigWarning

ROOT_LOOKUP_SECTION = "sscscp"
"""Section that holds the ``MicroPACS`` key naming the real root section."""


class Lookups:
    """What ``display_status`` shows as ``gpps``: the number of dicom.ini key lookups in this
    process (the original counts its ``MyGetPrivateProfileString`` calls) and the seconds
    spent reading the file (``Run time ... gpps``)."""

    count = 0
    seconds = 0.0


class _Entry(NamedTuple):
    value: str
    line: int


def _strip_quotes(value: str) -> str:
    """Remove one pair of surrounding double quotes, else single quotes (§1.2 rule 8)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _split_line(raw: str) -> str:
    """Strip a trailing LF and then a trailing CR (§1.2 rule 1)."""
    if raw.endswith("\n"):
        raw = raw[:-1]
    if raw.endswith("\r"):
        raw = raw[:-1]
    return raw


class IniFile:
    """A dicom.ini file read with Conquest's rules.

    ``get(section, key)`` returns ``None`` when no line matched, ``""`` for a found but
    empty key. ``param(key, default)`` reads from the root section, the one named by
    ``[sscscp] MicroPACS`` (default ``sscscp``).
    """

    RECHECK_SECONDS = 1.0

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._index: dict[tuple[str | None, str], _Entry] = {}
        self._lines: list[str] = []
        self._mtime: float | None = None
        self._checked = 0.0
        self.warnings: list[ConfigWarning] = []
        self.revision = 0         # counts loads: a value derived from the keys is valid while it stays
        self._derived: dict[Any, tuple[int, Any]] = {}
        self._load()

    # -- loading -------------------------------------------------------------------
    def _load(self) -> None:
        started = time.perf_counter()
        self.revision += 1
        try:
            data = self.path.read_bytes()
            self._mtime = self.path.stat().st_mtime
        except FileNotFoundError as exc:
            raise ConfigError(str(self.path), 0, "file not found") from exc
        text = data.decode("latin-1")
        self._lines = text.splitlines(keepends=True)
        self._index = {}
        self.warnings = []
        section: str | None = None
        for number, raw in enumerate(self._lines, start=1):
            line = _split_line(raw)
            if not line:
                continue
            if line[0] == " ":
                if line.strip() and not line.strip().startswith((";", "#")):
                    self._warn(number, "line starts with a space; Conquest ignores it entirely")
                continue
            if line[0] == ";":
                continue
            if line[0] == "[" and "]" in line:
                section = line[1:line.index("]")].lower()
                if section != section.strip():
                    self._warn(number, f"section name [{section}] has surrounding blanks; "
                                       "Conquest compares it untrimmed, so it matches no reader")
                continue
            if "=" in line:
                key, value = line.split("=", 1)
                key = key.rstrip(" \t")
                value = _strip_quotes(value.strip(" \t"))
            else:
                key, value = line.rstrip(" \t"), ""
                if not line.startswith("#"):
                    self._warn(number, f"no '=' in '{line.strip()}'; read as key with an empty value")
            if key[:1] == "\t":
                self._warn(number, f"key '{key.strip()}' starts with a tab; Conquest never finds it")
            lookup = (section, key.lower())
            first = self._index.get(lookup)
            if first is None:
                self._index[lookup] = _Entry(value, number)
            elif not key.startswith("#"):
                self._warn(number, f"duplicate key '{key}' in [{section}]; the first one "
                                   f"(line {first.line}) wins")
        Lookups.seconds += time.perf_counter() - started

    def _warn(self, line: int, message: str) -> None:
        self.warnings.append(ConfigWarning(str(self.path), line, message))

    def refresh(self, force: bool = False) -> None:
        """Re-read the file if it changed (at most one stat per second unless forced)."""
        now = time.monotonic()
        if not force and now - self._checked < self.RECHECK_SECONDS:
            return
        self._checked = now
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return
        if force or mtime != self._mtime:
            self._load()

    def derived(self, name: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``, a value worked out from the keys, kept until the file is read again
        (``name`` tells the values apart; asked for every object, worked out once a load)."""
        self.refresh()
        found = self._derived.get(name)
        if found is not None and found[0] == self.revision:
            return found[1]
        value = compute()
        self._derived[name] = (self.revision, value)
        return value

    # -- reading -------------------------------------------------------------------
    def get(self, section: str, key: str, default: str | None = None) -> str | None:
        """Value of ``key`` in ``section``; ``default`` when no line matched."""
        Lookups.count += 1
        self.refresh()
        entry = self._index.get((section.lower(), key.lower()))
        return default if entry is None else entry.value

    def line_of(self, section: str, key: str) -> int:
        """1-based line number where ``key`` was found in ``section``, or 0."""
        entry = self._index.get((section.lower(), key.lower()))
        return entry.line if entry else 0

    @property
    def root_section(self) -> str:
        """The section named by ``[sscscp] MicroPACS`` (conquest-storage.md §1.1)."""
        return self.get(ROOT_LOOKUP_SECTION, "MicroPACS", ROOT_LOOKUP_SECTION) or ""

    def param(self, key: str, default: str | None = None) -> str | None:
        """Value of ``key`` in the root section."""
        return self.get(self.root_section, key, default)

    def lines(self) -> list[str]:
        """The raw lines of the file, each with its newline (for ``get_ini``)."""
        self.refresh()
        return list(self._lines)

    def sections(self) -> list[str]:
        """Lower-cased names of all sections that hold at least one key."""
        return sorted({s for s, _ in self._index if s is not None})

    def keys(self, section: str) -> list[str]:
        """Lower-cased keys of a section."""
        wanted = section.lower()
        return [k for s, k in self._index if s == wanted]


# -- writing ---------------------------------------------------------------------------
WRITTEN_HEADER = "# Written by put_param on "
ADDED_HEADER = "# Parameter added by put_param on "


def _ctime(now: float | None) -> str:
    return time.ctime(now if now is not None else time.time())


def _newline_of(lines: list[str]) -> str:
    crlf = sum(1 for line in lines if line.endswith("\r\n"))
    return "\r\n" if crlf * 2 > len(lines) else "\n"


def _is_key_line(line: str, name: str) -> bool:
    """True when ``line`` sets ``name`` at column 0.

    Conquest recognises ``Name`` followed by whitespace; we also recognise ``Name=``,
    which the original missed (it then appended a second, invisible copy).
    """
    if not line[: len(name)].lower() == name.lower():
        return False
    rest = line[len(name):]
    return bool(rest) and (rest[0] in " \t\r\n=")


def _root_block_end(lines: list[str], root: str) -> int | None:
    """Index after the last non-blank line of the first block of section ``root``."""
    start = None
    for i, line in enumerate(lines):
        stripped = _split_line(line)
        if stripped.startswith("[") and "]" in stripped:
            name = stripped[1:stripped.index("]")].lower()
            if start is None and name == root.lower():
                start = i
            elif start is not None:
                break
    if start is None:
        return None
    end = start + 1
    for j in range(start + 1, len(lines)):
        stripped = _split_line(lines[j])
        if stripped.startswith("[") and "]" in stripped:
            break
        if stripped.strip():
            end = j + 1
    return end


def _rewrite(path: Path, lines: list[str]) -> None:
    """Write through ``<ini>.new`` and an atomic rename, as the original does."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes("".join(lines).encode("latin-1"))
    os.replace(tmp, path)


def put_param(path: str | os.PathLike, name: str, value: str, now: float | None = None) -> None:
    """``--put_param:name,value`` (conquest-storage.md §1.3).

    Every line that sets ``name`` in any section is replaced by ``%-24s = %s``; the
    first line becomes ``# Written by put_param on <ctime>``. A key that is not in the
    file yet is added at the end of the root section, where ``get_param`` will find
    it (the original appended it to the end of the file, usually inside ``[lua]``).
    """
    path = Path(path)
    ini = IniFile(path)
    root = ini.root_section
    lines = [line for line in ini.lines() if not line.startswith(WRITTEN_HEADER)]
    nl = _newline_of(lines)
    stamp = _ctime(now)
    new_line = f"{name:<24} = {value}{nl}"
    found = False
    for i, line in enumerate(lines):
        if _is_key_line(line, name):
            lines[i] = new_line
            found = True
    if not found:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += nl
        addition = [nl, f"{ADDED_HEADER}{stamp}{nl}", new_line]
        at = _root_block_end(lines, root)
        if at is None:
            addition = [nl, f"[{root}]{nl}"] + addition[1:]
            at = len(lines)
        lines[at:at] = addition
    _rewrite(path, [f"{WRITTEN_HEADER}{stamp}{nl}"] + lines)


def delete_param(path: str | os.PathLike, name: str, now: float | None = None) -> None:
    """``--delete_param:name``: drop every line that sets ``name``, in any section."""
    path = Path(path)
    ini = IniFile(path)
    lines = [line for line in ini.lines() if not line.startswith(WRITTEN_HEADER)]
    nl = _newline_of(lines)
    kept = [line for line in lines if not _is_key_line(line, name)]
    _rewrite(path, [f"{WRITTEN_HEADER}{_ctime(now)}{nl}"] + kept)
