"""The one call the converter package makes for recompression (``compression <code>``,
``forward compressed as``, the acrnema.map column; conquest-storage.md §6.7).

``ConvertContext.services.recompress`` is used when injected, else
``dgate.codec.recompress(dataset, code) -> Dataset`` when the codec package provides it.
Without a codec, leave-as-is codes (empty, ``as``, ``is``, ``v…``) and decompression
(``un``, ``ui``, ``ul``, ``ub``, ``n0``) are done here with pydicom; any other code
leaves the object as it is and says so in the log.
"""
from __future__ import annotations

import importlib
from typing import Callable

from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

_UNCOMPRESSED = {ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian, "1.2.840.10008.1.2.1.99"}
_DECOMPRESS = {"un": None, "n0": None, "ui": ImplicitVRLittleEndian, "ul": ExplicitVRLittleEndian,
               "ub": ExplicitVRBigEndian}


def _codec() -> Callable[[Dataset, str], Dataset] | None:
    try:
        module = importlib.import_module("dgate.codec")
    except ImportError:
        return None
    return getattr(module, "recompress", None)


def transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    return str(meta.TransferSyntaxUID) if meta is not None and "TransferSyntaxUID" in meta \
        else ImplicitVRLittleEndian


def decompress(ds: Dataset, target: str | None = None) -> Dataset:
    """Decompressed in place when compressed; ``target`` sets an uncompressed syntax."""
    ts = transfer_syntax(ds)
    if ts not in _UNCOMPRESSED and "PixelData" in ds:
        ds.decompress(generate_instance_uid=False)
    if target:
        from pydicom.dataset import FileMetaDataset
        if getattr(ds, "file_meta", None) is None:
            ds.file_meta = FileMetaDataset()
        uid = UID(target)
        if uid != ts:
            for _ in ds.iterall():      # parse every raw element in the old encoding first
                pass
            ds.set_original_encoding(uid.is_implicit_VR, uid.is_little_endian, ds.original_character_set)
        ds.file_meta.TransferSyntaxUID = uid
    return ds


def recompress(ds: Dataset, code: str, ctx=None) -> Dataset:
    """The object recompressed to Conquest compression ``code`` (may be ``ds`` itself)."""
    code = (code or "").strip()
    low = code.lower()
    injected = getattr(getattr(ctx, "services", None), "recompress", None) if ctx is not None else None
    if low in ("", "as", "is") or low.startswith("v"):
        return ds
    runner = injected or _codec()
    if runner is not None:
        return runner(ds, code)
    key = low[:2]
    if key in _DECOMPRESS:
        return decompress(ds, _DECOMPRESS[key])
    if key == "uj" and transfer_syntax(ds).startswith("1.2.840.10008.1.2.4.5"):
        return ds
    if ctx is not None:
        ctx.logs.operator.printf(f"Compression '{code}' needs the codec capability (dgate.codec.recompress); "
                                 "object left as it is\n")
    return ds
