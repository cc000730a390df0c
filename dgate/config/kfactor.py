"""dicom.sql ("kFactor file"): the database definition (conquest-storage.md §2).

Lexer (``Lex::Start``): the fixed tokens below are recognised *anywhere* by substring
search, the longest one winning (``DT_UINT16`` over ``DT_UI``); everything else is a
user word running to whitespace or to the start of the next token.

Grammar: comments ``/* ... */`` and blocks ``*Patient* { tuple, tuple ... }``, where a
tuple is ``{ Group, Element, "Column", Length, SQLType, DICOMType [, "HL7Tag"] }``; the
comma between tuples is optional; a repeated block appends to its table.

The first tuple of a table is its primary key; the last tuple of Study/Series/Image is
the link to the parent table. Column names are cut to ``TruncateFieldNames`` (effective
default 10) at parse time, lengths capped to ``MaxFieldLength`` when non-zero.
``DT_TIME`` is read as ``DT_DATE`` (range matching), as the original does.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from .errors import ConfigError, read_config_text

BLOCKS = ("*Patient*", "*Study*", "*Series*", "*Image*", "*WorkList*")
SQL_TYPES = ("SQL_C_CHAR", "SQL_C_DATE")
DICOM_TYPES = ("DT_STR", "DT_MSTR", "DT_ISTR", "DT_DATE", "DT_UINT16", "DT_UINT32", "DT_TIME",
               "DT_UI", "DT_FL", "DT_FD", "DT_STARTSEQUENCE", "DT_ENDSEQUENCE")
TOKENS = tuple(sorted(("/*", "*/", "{", "}", ",", '"') + BLOCKS + SQL_TYPES + DICOM_TYPES,
                      key=len, reverse=True))
_WHITESPACE = " \t\r\n"
TUPLE_SHAPE = "{ Group, Element, Column, Length, SQLType, DICOMType }"
MAX_COLUMN = 31

# Names printed by ``dgate -k`` and ``get_sqldef`` (DICOMTypeSymName / SQLTypeSymName).
DICOM_TYPE_NAMES = {
    "DT_STR": "DT_STR", "DT_MSTR": "DT_MSTR", "DT_ISTR": "DT_ISTR", "DT_DATE": "DT_DATE (DA)",
    "DT_UINT16": "DT_UINT16 (US)", "DT_UINT32": "DT_UINT32 (UL)", "DT_UI": "DT_UI (UI)",
    "DT_FL": "DT_FL (FL)", "DT_FD": "DT_FD (FD)",
    "DT_STARTSEQUENCE": "Start sequence", "DT_ENDSEQUENCE": "End sequence",
}


class DBEntry(NamedTuple):
    """One tuple of dicom.sql: a DICOM element stored in one column."""

    group: int
    element: int
    column: str
    length: int
    sql_type: str
    dicom_type: str
    hl7: str = ""

    @property
    def tag(self) -> int:
        return (self.group << 16) | self.element

    @property
    def is_sequence_marker(self) -> bool:
        return self.dicom_type in ("DT_STARTSEQUENCE", "DT_ENDSEQUENCE")


class DatabaseDefinition:
    """The five tables of dicom.sql, each a list of :class:`DBEntry` in file order."""

    def __init__(self, patient: list[DBEntry] | None = None, study: list[DBEntry] | None = None,
                 series: list[DBEntry] | None = None, image: list[DBEntry] | None = None,
                 worklist: list[DBEntry] | None = None, path: str = ""):
        self.patient: list[DBEntry] = list(patient or [])
        self.study: list[DBEntry] = list(study or [])
        self.series: list[DBEntry] = list(series or [])
        self.image: list[DBEntry] = list(image or [])
        self.worklist: list[DBEntry] = list(worklist or [])
        self.path = path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatabaseDefinition) and all(
            getattr(self, name) == getattr(other, name) for name in self.LEVELS + ("path",))

    def __repr__(self) -> str:
        return f"DatabaseDefinition({', '.join(f'{n}={len(self.table(n))} entries' for n in self.LEVELS)})"

    def table(self, level: str) -> list[DBEntry]:
        return getattr(self, level.lower())

    LEVELS = ("patient", "study", "series", "image", "worklist")


class _Token(NamedTuple):
    text: str
    line: int
    fixed: bool


def tokenize(text: str, path: str = "dicom.sql") -> list[_Token]:
    """Split dicom.sql text into fixed tokens and user words (``Lex::Start``)."""
    tokens: list[_Token] = []
    i, n, line = 0, len(text), 1
    while i < n:
        ch = text[i]
        if ch in _WHITESPACE:
            if ch == "\n":
                line += 1
            i += 1
            continue
        fixed = _token_at(text, i)
        if fixed:
            tokens.append(_Token(fixed, line, True))
            i += len(fixed)
            continue
        start = i
        while i < n and text[i] not in _WHITESPACE and not _token_at(text, i):
            i += 1
        tokens.append(_Token(text[start:i], line, False))
    return tokens


_BY_FIRST: dict[str, tuple[str, ...]] = {}
for _token in TOKENS:                         # longest first, as in TOKENS
    _BY_FIRST[_token[0]] = _BY_FIRST.get(_token[0], ()) + (_token,)


def _token_at(text: str, i: int) -> str | None:
    for token in _BY_FIRST.get(text[i], ()):
        if text.startswith(token, i):
            return token
    return None


def _number(tok: _Token, path: str) -> int:
    """``ConvertNumber``: hex when longer than 2 chars with x/X second, else decimal."""
    word = tok.text
    try:
        if len(word) > 2 and word[1] in "xX":
            value = int(word[2:], 16)
        else:
            value = int(word, 10)
    except ValueError:
        raise ConfigError(path, tok.line, f"expected a number, found '{word}' in {TUPLE_SHAPE}")
    return value & 0xFFFF


class _Parser:
    def __init__(self, tokens: list[_Token], path: str, truncate: int, max_length: int):
        self.tokens = tokens
        self.pos = 0
        self.path = path
        self.truncate = truncate
        self.max_length = max_length

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None, what: str = TUPLE_SHAPE) -> _Token:
        tok = self.peek()
        if tok is None:
            last = self.tokens[-1].line if self.tokens else 0
            raise ConfigError(self.path, last, f"unexpected end of file; expected {what}")
        if expected is not None and not (tok.fixed and tok.text == expected):
            raise ConfigError(self.path, tok.line,
                              f"expected '{expected}' of {what}, found '{tok.text}'")
        self.pos += 1
        return tok

    def skip_comment(self) -> None:
        start = self.take("/*")
        while True:
            tok = self.peek()
            if tok is None:
                raise ConfigError(self.path, start.line, "comment '/*' is never closed by '*/'")
            self.pos += 1
            if tok.fixed and tok.text == "*/":
                return

    def word(self, what: str) -> _Token:
        tok = self.take(what=TUPLE_SHAPE)
        if tok.fixed:
            raise ConfigError(self.path, tok.line, f"expected {what} in {TUPLE_SHAPE}, found '{tok.text}'")
        return tok

    def quoted(self, what: str) -> _Token:
        self.take('"')
        tok = self.word(what)
        self.take('"')
        return tok

    def parse(self) -> DatabaseDefinition:
        definition = DatabaseDefinition(path=self.path)
        while (tok := self.peek()) is not None:
            if tok.fixed and tok.text == "/*":
                self.skip_comment()
            elif tok.fixed and tok.text in BLOCKS:
                self.pos += 1
                self.block(definition.table(tok.text.strip("*")), tok.text == "*WorkList*")
            else:
                raise ConfigError(self.path, tok.line,
                                  f"Parse error: expected a comment or one of {', '.join(BLOCKS)}, "
                                  f"found '{tok.text}' ('#' is not a comment in dicom.sql)")
        return definition

    def block(self, table: list[DBEntry], worklist: bool) -> None:
        self.take("{", what="'{' opening the block")
        while True:
            tok = self.take(what="a tuple or '}'")
            if tok.fixed and tok.text == "}":
                return
            if tok.fixed and tok.text == ",":
                continue
            if tok.fixed and tok.text == "/*":
                self.pos -= 1
                self.skip_comment()
                continue
            if not (tok.fixed and tok.text == "{"):
                raise ConfigError(self.path, tok.line, f"expected {TUPLE_SHAPE}, found '{tok.text}'")
            table.append(self.tuple(tok.line, worklist, table))

    def tuple(self, line: int, worklist: bool, table: list[DBEntry]) -> DBEntry:
        group = _number(self.word("Group"), self.path)
        self.take(",")
        element = _number(self.word("Element"), self.path)
        self.take(",")
        column_tok = self.quoted("Column")
        column = column_tok.text
        if len(column) > MAX_COLUMN:
            raise ConfigError(self.path, column_tok.line,
                              f"column name '{column}' is longer than {MAX_COLUMN} characters")
        if self.truncate:
            column = column[: self.truncate]
        self.take(",")
        length = _number(self.word("Length"), self.path)
        if self.max_length:
            length = min(length, self.max_length)
        self.take(",")
        sql = self.take()
        if not (sql.fixed and sql.text in SQL_TYPES):
            raise ConfigError(self.path, sql.line,
                              f"Unknown SQL Type '{sql.text}'; expected SQL_C_CHAR or SQL_C_DATE")
        self.take(",")
        dic = self.take()
        if not (dic.fixed and dic.text in DICOM_TYPES):
            raise ConfigError(self.path, dic.line,
                              f"unknown DICOM type '{dic.text}'; expected one of {', '.join(DICOM_TYPES)}")
        dicom_type = "DT_DATE" if dic.text == "DT_TIME" else dic.text
        hl7 = ""
        tok = self.take(what="'}' closing the tuple")
        if tok.fixed and tok.text == "," and worklist:
            hl7 = self.quoted("HL7Tag").text
            tok = self.take(what="'}' closing the tuple")
        elif worklist and table:
            hl7 = table[-1].hl7  # a tuple without HL7 part reuses the previous tag
        if not (tok.fixed and tok.text == "}"):
            raise ConfigError(self.path, tok.line, f"expected '}}' closing {TUPLE_SHAPE}, found '{tok.text}'")
        return DBEntry(group, element, column, length, sql.text, dicom_type, hl7)


def parse_kfactor(text: str, path: str = "dicom.sql", truncate: int = 10,
                  max_length: int = 0) -> DatabaseDefinition:
    """Parse dicom.sql text; raise :class:`ConfigError` naming file and line on errors."""
    definition = _Parser(tokenize(text, path), path, truncate, max_length).parse()
    for level in ("patient", "study", "series", "image"):
        if not definition.table(level):
            raise ConfigError(path, 0, f"the *{level.capitalize()}* block is missing or empty")
    return definition


def load_kfactor(path: str | os.PathLike, truncate: int = 10, max_length: int = 0) -> DatabaseDefinition:
    return parse_kfactor(read_config_text(path), str(Path(path)), truncate, max_length)


def dump_kfactor(definition: DatabaseDefinition, table_names: dict[str, str]) -> str:
    """Text of ``dgate -k`` (``PrintKFactorFile``): a header, then each table's tuples."""
    out = ["**\tDatabase Description dump\n", "\n"]
    for level in DatabaseDefinition.LEVELS:
        out.append(f"--{'WorkList' if level == 'worklist' else level.capitalize()} "
                   f"Database: {table_names[level]}\n")
        for e in definition.table(level):
            out.append("0x%4.4x,0x%4.4x  %10s  %4d  %10s  %14s  %10s\n" % (
                e.group, e.element, e.column, e.length, e.sql_type,
                DICOM_TYPE_NAMES.get(e.dicom_type, "--bad--"), e.hl7))
    return "".join(out)
