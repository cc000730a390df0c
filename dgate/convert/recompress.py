"""The one call the converter package makes for (re)compression: ``compression <code>``,
``forward compressed as XX``, the acrnema.map column of a forward destination
(conquest-lua-web.md §8.5 #17, §8.8; conquest-storage.md §6.7).

Both go to :mod:`dgate.codec` (``recompress`` for a code, ``for_destination`` for what a
peer accepted), with dicom.ini's ``LossyQuality`` and the process-wide counters, so
palette, planar and YBR_FULL fixes and the display_status counts are those of every
other path. ``ConvertContext.services.recompress`` replaces ``recompress`` when injected.
Codec failures raise :class:`dgate.codec.CodecError`.
"""
from __future__ import annotations

import copy

from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian


def transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    return str(meta.TransferSyntaxUID) if meta is not None and "TransferSyntaxUID" in meta \
        else ImplicitVRLittleEndian


def _options(ctx) -> dict:
    from ..store.ingest import counters
    quality = ctx.settings.int("LossyQuality") if ctx is not None else 95
    log = ctx.logs.operator.printf if ctx is not None else None
    return {"lossy_quality": quality or 95, "counters": counters, "log": log}


def recompress(ds: Dataset, code: str, ctx=None) -> Dataset:
    """``ds`` at Conquest compression ``code`` (changed in place, or ``ds`` itself when it
    already is at that level)."""
    injected = getattr(getattr(ctx, "services", None), "recompress", None) if ctx is not None else None
    if injected is not None:
        return injected(ds, code)
    from ..codec import recompress as codec_recompress
    return codec_recompress(ds, (code or "").strip(), **_options(ctx))


def for_peer(ds: Dataset, accepted: list[str], code: str, ctx=None) -> Dataset:
    """The object as sent to a peer that accepted ``accepted`` for its SOP class, with
    compression ``code`` (``compressed as`` or the acrnema.map column): ``ds`` itself when
    it can go as it is, else a converted copy. Raises CodecError (or ValueError when
    nothing was accepted)."""
    from .. import codec
    from ..codec.pixels import has_nki
    from ..codec.recompression import already_there
    own = transfer_syntax(ds)
    target = codec.choose_accepted(own, accepted)
    if target is None:
        raise ValueError("the peer accepted no transfer syntax for this object")
    options = _options(ctx)
    wanted = codec.compression_for_destination(code, target)
    spec = codec.parse(wanted or "as")
    if target == own and not has_nki(ds) and (
            spec.leaves_as_is or (spec.kind != "unknown" and already_there(ds, spec, own, options["lossy_quality"]))):
        return ds
    return codec.for_destination(copy.deepcopy(ds), target, code, **options)
