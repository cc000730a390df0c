"""Print SCU: the Lua ``dicomprint(obj_or_arr, ae, annotation, extra)`` function
(conquest-lua-web.md §3; ``DcmPrintADDO``/``PrintGrayScaleImages`` in the original).

Basic Grayscale Print Management as the original drives it: one film session (1 copy,
priority MED, BLUE FILM, MAGAZINE, label ``QUIRT CqPrint``), then per sheet a film box
(Image Display Format — by default ``STANDARD\\1,1`` for one image, ``STANDARD\\1,2`` for
two, ``STANDARD\\2,2`` else — Film Orientation PORTRAIT, 14INX17IN, BILINEAR, BLACK
borders and empty images), one image box N-SET per image and a film box N-ACTION (print).
``extra`` lines ``ImageDisplayFormat=…`` and ``FilmOrientation=…`` override the defaults.

Beyond the original (which sends the stored pixels as they are, so compressed, colour,
signed or 16-bit images are refused by most printers, and reports success for an AE
that is not in acrnema.map): each image is made printable — decompressed, converted to
8-bit MONOCHROME2 through its first window (else its pixel range) — and an unknown AE,
a refused association or a failed N-request raise :class:`PrintFailed`. The film session
is deleted at the end. The annotation argument is accepted and unused, as in the original.
"""
from __future__ import annotations

import socket
from typing import Iterable

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pynetdicom import AE, build_context, evt

from ..config.acrnema import Address

GRAYSCALE_META = "1.2.840.10008.5.1.1.9"
FILM_SESSION, FILM_BOX = "1.2.840.10008.5.1.1.1", "1.2.840.10008.5.1.1.2"
GRAY_IMAGE_BOX, PRINTER = "1.2.840.10008.5.1.1.4", "1.2.840.10008.5.1.1.16"
PRINT_JOB, ANNOTATION_BOX = "1.2.840.10008.5.1.1.14", "1.2.840.10008.5.1.1.15"


class PrintFailed(Exception):
    """The images were not printed; the text says where it failed."""


def extra_option(extra: str, key: str) -> str | None:
    """``key=value`` from the ``extra`` text; the value ends at CR, LF, ``^`` or ``;``."""
    at = extra.find(key + "=")
    if at < 0:
        return None
    value = extra[at + len(key) + 1:]
    for stop in "\r\n^;":
        value = value.split(stop, 1)[0]
    return value


def default_format(count: int) -> str:
    return "STANDARD\\1,1" if count == 1 else "STANDARD\\1,2" if count == 2 else "STANDARD\\2,2"


def sheet_size(display_format: str) -> int:
    """Images per sheet as the original computes it from ``STANDARD\\C,R``."""
    _, _, numbers = display_format.partition("\\")
    parts = numbers.split(",")
    try:
        first = int(parts[0]) if parts[0].strip() else 1
        second = int(parts[1]) if len(parts) > 1 and parts[1].strip() else 1
    except ValueError:
        return 1
    return max(first, 1) * max(second, 1)


def printable(ds: Dataset) -> Dataset:
    """The image as a Basic Grayscale Image Sequence item: 8-bit MONOCHROME2."""
    pixels = ds.pixel_array
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        pixels = pixels[0]
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if pixels.ndim == 3:                         # colour → luminance
        if photometric.startswith("YBR"):
            pixels = pixels[..., 0]
        else:
            pixels = pixels[..., :3] @ np.array([0.299, 0.587, 0.114])
    data = pixels.astype(np.float64)
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    data = data * slope + intercept
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is not None and width is not None:
        c = float(center[0] if hasattr(center, "__len__") and not isinstance(center, str) else center)
        w = float(width[0] if hasattr(width, "__len__") and not isinstance(width, str) else width)
        low, high = c - w / 2, c + w / 2
    else:
        low, high = float(data.min()), float(data.max())
    scaled = np.clip((data - low) / max(high - low, 1e-9), 0, 1) * 255
    if photometric == "MONOCHROME1":
        scaled = 255 - scaled
    out = Dataset()
    out.SamplesPerPixel = 1
    out.PhotometricInterpretation = "MONOCHROME2"
    out.Rows, out.Columns = int(scaled.shape[0]), int(scaled.shape[1])
    out.PixelAspectRatio = ["1", "1"]
    out.BitsAllocated = out.BitsStored = 8
    out.HighBit = 7
    out.PixelRepresentation = 0
    out.PixelData = scaled.astype(np.uint8).tobytes()
    out["PixelData"].VR = "OB"
    return out


def _nodelay(event) -> None:
    sock = getattr(event.assoc.dul, "socket", None)
    raw = getattr(sock, "socket", None)
    if raw is not None:
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def _check(status, what: str) -> Dataset | None:
    code = getattr(status, "Status", None) if status is not None else None
    if code is None:
        raise PrintFailed(f"{what}: no answer")
    if code != 0 and code >> 12 != 0xB:
        raise PrintFailed(f"{what}: status 0x{code:04X}")
    return status


def dicomprint(own_ae: str, address: Address | None, images: Iterable[Dataset], annotation: str = "",
               extra: str = "", timeout: float = 30.0) -> int:
    """Print ``images`` on the printer at ``address``; the number of films printed."""
    if address is None:
        raise PrintFailed("printer AE not in acrnema.map")
    items = [printable(ds) for ds in images]
    if not items:
        return 0
    display_format = extra_option(extra, "ImageDisplayFormat") or default_format(len(items))
    orientation = extra_option(extra, "FilmOrientation") or "PORTRAIT"
    per_sheet = sheet_size(display_format)
    ae = AE(ae_title=own_ae[:16])
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    contexts = [build_context(GRAYSCALE_META), build_context(PRINT_JOB), build_context(ANNOTATION_BOX)]
    created_uids: list[str] = []

    def on_response(event) -> None:          # pynetdicom does not return N-CREATE's instance UID
        command = event.message.command_set
        if int(command.get("CommandField", 0)) == 0x8140:
            created_uids.append(str(command.get("AffectedSOPInstanceUID", "")))

    assoc = ae.associate(address.host, address.port, contexts=contexts, ae_title=address.ae[:16],
                         evt_handlers=[(evt.EVT_CONN_OPEN, _nodelay), (evt.EVT_DIMSE_RECV, on_response)])
    if not assoc.is_established:
        raise PrintFailed(f"could not associate with printer {address.ae} at {address.host}:{address.port}")
    films = 0
    try:
        session = Dataset()
        session.NumberOfCopies = "1"
        session.PrintPriority = "MED"
        session.MediumType = "BLUE FILM"
        session.FilmDestination = "MAGAZINE"
        session.FilmSessionLabel = "QUIRT CqPrint"
        status, _ = assoc.send_n_create(session, FILM_SESSION, meta_uid=GRAYSCALE_META)
        _check(status, "film session N-CREATE")
        session_uid = created_uids[-1] if created_uids else ""
        for start in range(0, len(items), per_sheet):
            box = Dataset()
            box.ImageDisplayFormat = display_format
            box.FilmOrientation = orientation
            box.FilmSizeID = "14INX17IN"
            box.MagnificationType = "BILINEAR"
            box.BorderDensity = "BLACK"
            box.EmptyImageDensity = "BLACK"
            if session_uid:
                ref = Dataset()
                ref.ReferencedSOPClassUID = FILM_SESSION
                ref.ReferencedSOPInstanceUID = session_uid
                box.ReferencedFilmSessionSequence = Sequence([ref])
            status, created = assoc.send_n_create(box, FILM_BOX, meta_uid=GRAYSCALE_META)
            _check(status, "film box N-CREATE")
            film_box_uid = created_uids[-1] if created_uids else ""
            if not film_box_uid:
                raise PrintFailed("film box N-CREATE response without the film box UID")
            boxes = list(created.ReferencedImageBoxSequence) if created is not None and \
                "ReferencedImageBoxSequence" in created else []
            for position, image in enumerate(items[start:start + per_sheet]):
                if position >= len(boxes):
                    raise PrintFailed(f"printer made {len(boxes)} image boxes for {display_format}")
                set_ds = Dataset()
                set_ds.ImageBoxPosition = position + 1
                set_ds.BasicGrayscaleImageSequence = Sequence([image])
                status, _ = assoc.send_n_set(set_ds, GRAY_IMAGE_BOX, boxes[position].ReferencedSOPInstanceUID,
                                             meta_uid=GRAYSCALE_META)
                _check(status, f"image box {position + 1} N-SET")
            status, _ = assoc.send_n_action(None, 1, FILM_BOX, film_box_uid, meta_uid=GRAYSCALE_META)
            _check(status, "film box N-ACTION (print)")
            films += 1
        if session_uid:
            assoc.send_n_delete(FILM_SESSION, session_uid, meta_uid=GRAYSCALE_META)
    finally:
        if assoc.is_established:
            assoc.release()
    return films
