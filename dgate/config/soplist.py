"""dgatesop.lst: what the server accepts on an association (conquest-storage.md §5.2).

Each non-comment line holds three words, ``name UID-or-AE type``, type being (case
insensitive) ``sop``/``abstract``, ``transfer``, ``application``, ``RemoteAE`` or
``LocalAE``. Lines starting with ``#`` are comments; words after the third are ignored.
An empty list accepts everything (no RemoteAE lines → any calling AE).

The file is read per association, so edits apply to the next one. Lines the original
ignores (fewer than three words, unknown type) are reported as warnings. Carriage
returns count as blanks here, so a file edited on Windows works on Linux too (the
original reads ``sop\\r`` as an unknown type there).
"""
from __future__ import annotations

import builtins
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigWarning, read_config_text

KINDS = ("remoteae", "localae", "application", "sop", "transfer")
_TYPE_TO_KIND = {"sop": "sop", "abstract": "sop", "transfer": "transfer",
                 "application": "application", "remoteae": "remoteae", "localae": "localae"}
# How put_sop & co. spell the type column when they rewrite the file.
WRITTEN_TYPE = {"remoteae": "RemoteAe", "localae": "LocalAe", "application": "application",
                "sop": "sop", "transfer": "transfer"}


@dataclass
class SopEntry:
    name: str
    uid: str
    line: int = 0


@dataclass
class SopList:
    """The five accept lists of dgatesop.lst, each in file order."""

    remoteae: list[SopEntry] = field(default_factory=list)
    localae: list[SopEntry] = field(default_factory=list)
    application: list[SopEntry] = field(default_factory=list)
    sop: list[SopEntry] = field(default_factory=list)
    transfer: list[SopEntry] = field(default_factory=list)
    path: str = "dgatesop.lst"
    warnings: list[ConfigWarning] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, path: str = "dgatesop.lst") -> "SopList":
        lst = cls(path=path)
        for number, line in enumerate(text.split("\n"), start=1):
            if line.startswith("#") or not line.strip():
                continue
            words = line.split()
            if len(words) < 3:
                lst.warnings.append(ConfigWarning(path, number,
                                    f"expected 'name UID type', found '{line.strip()}'; line ignored"))
                continue
            kind = _TYPE_TO_KIND.get(words[2].lower())
            if kind is None:
                lst.warnings.append(ConfigWarning(path, number,
                                    f"unknown type '{words[2]}' (expected sop, transfer, "
                                    "application, RemoteAE or LocalAE); line ignored"))
                continue
            getattr(lst, kind).append(SopEntry(words[0][:255], words[1][:255], number))
        return lst

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SopList":
        return cls.parse(read_config_text(path), str(path))

    def list(self, kind: str) -> list[SopEntry]:
        return getattr(self, kind.lower())

    # -- acceptance (CheckedPDU_Service) ---------------------------------------------
    @staticmethod
    def _title(ae: str) -> str:
        """AE titles are cut at the first space, tab or LF before comparison."""
        for i, ch in enumerate(ae):
            if ch in " \t\n":
                return ae[:i]
        return ae

    def accepts_remote_ae(self, ae: str) -> bool:
        return not self.remoteae or self._title(ae) in {e.uid for e in self.remoteae}

    def accepts_local_ae(self, ae: str) -> bool:
        return not self.localae or self._title(ae) in {e.uid for e in self.localae}

    def accepts_application(self, uid: str) -> bool:
        return not self.application or uid in {e.uid for e in self.application}

    def accepts_sop(self, uid: str) -> bool:
        return not self.sop or uid in {e.uid for e in self.sop}

    def accepts_transfer(self, uid: str) -> bool:
        return not self.transfer or uid in {e.uid for e in self.transfer}

    def choose_transfer(self, proposed: builtins.list[str]) -> str | None:
        """First proposed transfer syntax (proposer's order) that we accept."""
        for uid in proposed:
            if len(uid) > 16 and self.accepts_transfer(uid):
                return uid
        return None

    # -- editing (put_sop / delete_sop ... ) ------------------------------------------
    def put(self, kind: str, index: int, uid: str, name: str) -> None:
        entries = self.list(kind)
        entry = SopEntry(name, uid)
        if 0 <= index < len(entries):
            entries[index] = entry
        else:
            entries.append(entry)

    def delete(self, kind: str, index: int) -> bool:
        entries = self.list(kind)
        if 0 <= index < len(entries):
            del entries[index]
            return True
        return False

    def render(self, command: str = "put_sop", now: float | None = None) -> str:
        stamp = time.ctime(now if now is not None else time.time())
        head = [
            "#",
            "# DICOM Application / sop / transfer UID list.",
            "#",
            "# This list is used by the CheckedPDU_Service ( \"filename\" ) service",
            "# class. All incoming associations will be verified against this file.",
            "#",
            f"# File written by {command} on: {stamp}",
        ]
        rows = [f"{e.name:<42} {e.uid:<44} {WRITTEN_TYPE[kind]}"
                for kind in KINDS for e in self.list(kind)]
        return "\n".join(head + rows) + "\n"

    def write(self, path: str | os.PathLike | None = None, command: str = "put_sop",
              now: float | None = None) -> None:
        target = Path(path or self.path)
        tmp = target.with_name(target.name + ".new")
        tmp.write_text(self.render(command, now), encoding="latin-1")
        os.replace(tmp, target)
