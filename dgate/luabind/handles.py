"""What a Lua DICOM userdata points at (``luaCreateObject``; conquest-lua-web.md §2.1).

A :class:`Handle` is an *object* (a pydicom Dataset), an *array* (a list of Datasets:
a sequence's items, query results, ``newdicomarray()``), or the *factory*
(``DicomObject``, and ``Command`` when there is no command). Items of arrays and
sequences are views into their parent: changing them changes the parent.
"""
from __future__ import annotations

from typing import MutableSequence

from pydicom.dataset import Dataset


class Handle:
    __slots__ = ("__weakref__", "ds", "items", "with_meta")

    def __init__(self, ds: Dataset | None = None, items: MutableSequence | None = None, with_meta: bool = False):
        self.ds = ds
        self.items = items
        self.with_meta = with_meta        # Serialize includes group 0002 (objects read from files)

    @property
    def kind(self) -> str:
        """``o`` object, ``a`` array, ``f`` factory (the Lua glue's kind letters)."""
        if self.ds is not None:
            return "o"
        if self.items is not None:
            return "a"
        return "f"

    def free(self) -> None:
        self.ds = None
        self.items = None

    def __repr__(self) -> str:
        if self.ds is not None:
            return "Dicom Data Object"
        if self.items is not None:
            return f"Dicom sequence with {len(self.items)} entries"
        return "Dicom factory"


def mark_file_object(ds: Dataset) -> Dataset:
    """Remember that ``ds`` was read from a file: Serialize shows its group 0002 (the
    original keeps the meta group in objects it loads; received objects have none)."""
    object.__setattr__(ds, "_lua_meta", True)
    return ds


def has_file_meta(ds: Dataset) -> bool:
    return bool(getattr(ds, "_lua_meta", False))


def datasets_of(value) -> list[Dataset]:
    """The objects a Lua argument stands for: an object, the items of an array, or none."""
    if isinstance(value, Handle):
        if value.ds is not None:
            return [value.ds]
        if value.items is not None:
            return list(value.items)
    return []
