"""``dicomprint``: the Basic Grayscale Print Management SCU (PS3.4 Annex H; conquest-lua-web.md §3).

One film session (N-CREATE), one film box holding all images (N-CREATE; the display
format defaults to ``STANDARD\\1,1``, ``STANDARD\\1,2`` or ``STANDARD\\2,2``… by count),
one N-SET per image box with the image as 8-bit MONOCHROME2 scaled to its value range,
N-ACTION print on the film box, N-DELETE of the session. ``extra`` holds lines
``Attribute=value`` for the film box (``ImageDisplayFormat=…``, ``FilmOrientation=…``).
"""
from __future__ import annotations

import math

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

META = "1.2.840.10008.5.1.1.9"
FILM_SESSION = "1.2.840.10008.5.1.1.1"
FILM_BOX = "1.2.840.10008.5.1.1.2"
IMAGE_BOX = "1.2.840.10008.5.1.1.4"


def display_format(count: int) -> str:
    if count <= 1:
        return "STANDARD\\1,1"
    if count == 2:
        return "STANDARD\\1,2"
    side = math.ceil(math.sqrt(count))
    return f"STANDARD\\{side},{side}"


def grayscale_item(ds: Dataset) -> Dataset:
    """The image as an 8-bit MONOCHROME2 Basic Grayscale Image Sequence item."""
    import numpy as np
    pixels = ds.pixel_array.astype("float64")
    if pixels.ndim == 3 and int(ds.get("SamplesPerPixel", 1) or 1) > 1:
        pixels = pixels.mean(axis=2)
    elif pixels.ndim == 3:
        pixels = pixels[0]
    low, high = float(pixels.min()), float(pixels.max())
    scaled = (pixels - low) * (255.0 / (high - low)) if high > low else pixels * 0
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        scaled = 255 - scaled
    item = Dataset()
    item.SamplesPerPixel = 1
    item.PhotometricInterpretation = "MONOCHROME2"
    item.Rows, item.Columns = int(scaled.shape[0]), int(scaled.shape[1])
    item.BitsAllocated = item.BitsStored = 8
    item.HighBit = 7
    item.PixelRepresentation = 0
    item.PixelData = np.clip(scaled, 0, 255).astype("uint8").tobytes()
    return item


def print_images(own_ae: str, address, images: list[Dataset], annotation: str = "", extra: str = "",
                 timeout: float = 30.0) -> bool:
    """Print ``images`` on the printer at ``address``; True when the print was accepted."""
    from pydicom.uid import generate_uid
    from pynetdicom import AE, build_context, evt

    from ..net.negotiation import set_nodelay
    ae = AE(ae_title=own_ae[:16])
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    assoc = ae.associate(address.host, address.port, contexts=[build_context(META)], ae_title=address.ae[:16],
                         evt_handlers=[(evt.EVT_CONN_OPEN, lambda event: set_nodelay(event.assoc))])
    if not assoc.is_established:
        return False
    try:
        session = Dataset()
        session.NumberOfCopies = "1"
        session.PrintPriority = "MED"
        session.MediumType = "PAPER"
        session.FilmDestination = "MAGAZINE"
        if annotation:
            session.FilmSessionLabel = annotation[:64]
        session_uid = generate_uid()
        status, _ = assoc.send_n_create(session, FILM_SESSION, session_uid, meta_uid=META)
        if not status or status.Status != 0:
            return False
        box = Dataset()
        box.ImageDisplayFormat = display_format(len(images))
        box.FilmOrientation = "PORTRAIT"
        box.FilmSizeID = "8INX10IN"
        for line in extra.replace(";", "\n").splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip():
                try:
                    setattr(box, key.strip(), value.strip())
                except (ValueError, TypeError, AttributeError):
                    pass
        ref = Dataset()
        ref.ReferencedSOPClassUID = FILM_SESSION
        ref.ReferencedSOPInstanceUID = session_uid
        box.ReferencedFilmSessionSequence = Sequence([ref])
        box_uid = generate_uid()
        status, film = assoc.send_n_create(box, FILM_BOX, box_uid, meta_uid=META)
        if not status or status.Status != 0 or film is None:
            return False
        boxes = list(film.get("ReferencedImageBoxSequence", []))
        for position, (image, ref_box) in enumerate(zip(images, boxes), start=1):
            content = Dataset()
            content.ImageBoxPosition = position
            content.BasicGrayscaleImageSequence = Sequence([grayscale_item(image)])
            status, _ = assoc.send_n_set(content, IMAGE_BOX, str(ref_box.ReferencedSOPInstanceUID), meta_uid=META)
            if not status or status.Status != 0:
                return False
        status, _ = assoc.send_n_action(None, 1, FILM_BOX, box_uid, meta_uid=META)
        if not status or status.Status not in (0x0000, 0xB603, 0xB604):
            return False
        assoc.send_n_delete(FILM_SESSION, session_uid, meta_uid=META)
        return True
    finally:
        assoc.release()
