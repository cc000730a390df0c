"""Print SCP: Basic Grayscale and Color Print Management (PS3.4 H; ``PrinterSupport``,
dgate.cpp:19968, conquest-lua-web.md §1.6 ``printserver``).

As the original: the printer answers N-GET with status NORMAL and the name "Conquest
dicom printer"; film sessions and film boxes are created, set, printed and deleted with
one operator-log line each; a film box gets one image box per cell of its Image Display
Format, with UIDs ``<film box uid>.<film# - 1>.<rows>.<cols>.<index>``; each image box N-SET
saves the image (the item of the Basic Grayscale/Color Image Sequence) as an explicit VR
Part 10 file ``<MAG0>printer_files/<image box uid>.dcm``. A ``printserver`` hook (the
``[lua] printserver`` script) replaces the logging and saving: it gets the event name or,
for an image box, the target file name, and returns False when it did not handle the event.

Beyond the original, which accepts anything: the objects of an association are
tracked, so an N-SET/N-ACTION/N-DELETE on an instance that was not created is answered
0x0112 (no such SOP instance); printing a film session without film boxes 0xC600;
unknown film sizes, copies outside 1–99, image display formats with no or more than
``PrintMaxImageBoxes`` boxes, more than ``PrintMaxFilmBoxes`` film boxes in a session and
images whose pixel data does not fit their size are refused (0x0106 / 0x0213).
"""
from __future__ import annotations

import itertools
import os
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

from ..log import Logs
from ..log import logs as process_logs
from ..uids import gen_uid
from .nmessages import (
    INVALID_ATTRIBUTE_VALUE,
    MISSING_ATTRIBUTE,
    N_ACTION,
    N_CREATE,
    N_DELETE,
    N_EVENT_REPORT,
    N_GET,
    N_SET,
    NO_SUCH_INSTANCE,
    PROCESSING_FAILURE,
    RESOURCE_LIMITATION,
    SUCCESS,
    UNRECOGNISED_OPERATION,
    NRequest,
    NResponse,
    failure,
)

GRAYSCALE_META, COLOR_META = "1.2.840.10008.5.1.1.9", "1.2.840.10008.5.1.1.18"
FILM_SESSION, FILM_BOX = "1.2.840.10008.5.1.1.1", "1.2.840.10008.5.1.1.2"
GRAY_IMAGE_BOX, COLOR_IMAGE_BOX = "1.2.840.10008.5.1.1.4", "1.2.840.10008.5.1.1.4.1"
PRINTER, PRINTER_INSTANCE = "1.2.840.10008.5.1.1.16", "1.2.840.10008.5.1.1.17"
META_MEMBERS = {GRAYSCALE_META: (FILM_SESSION, FILM_BOX, GRAY_IMAGE_BOX, PRINTER),
                COLOR_META: (FILM_SESSION, FILM_BOX, COLOR_IMAGE_BOX, PRINTER)}
PRINTER_NAME = "Conquest dicom printer"
FILM_SIZES = frozenset("8INX10IN 8_5INX11IN 10INX12IN 10INX14IN 11INX14IN 11INX17IN 14INX14IN 14INX17IN "
                       "24CMX24CM 24CMX30CM A4 A3".split())
IMAGE_SEQUENCE = {GRAY_IMAGE_BOX: 0x20200110, COLOR_IMAGE_BOX: 0x20200111}
MAX_IMAGE_SIDE = 32768
IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.2.135.1066.101"   # as the original (net/control.py)
PrintHook = Callable[[str, Dataset, NRequest], bool | None]
_film_counter = itertools.count(1)
_film_lock = threading.Lock()


def _next_film() -> int:
    with _film_lock:
        return next(_film_counter)


@dataclass
class FilmBox:
    uid: str
    attributes: Dataset
    image_boxes: list[str]
    images_set: set[str] = field(default_factory=set)


@dataclass
class FilmSession:
    uid: str
    attributes: Dataset
    film_boxes: dict[str, FilmBox] = field(default_factory=dict)


def display_format_boxes(text: str) -> tuple[int, int, int]:
    """(rows, columns, image boxes) of an Image Display Format (2010,0010).

    ``STANDARD\\C,R`` gives C×R boxes (the original reads its two numbers the same way for
    every format); ``ROW\\a,b,…``/``COL\\a,b,…`` the sum of the counts, as PS3.3 C.13.5
    defines them. No format means one box.
    """
    if not text.strip():
        return 1, 1, 1
    kind, _, numbers = text.strip().partition("\\")
    values = [int(v) if re.fullmatch(r"\s*\d{1,4}\s*", v) else -1 for v in numbers.split(",")] if numbers else []
    if not values or min(values) <= 0:
        return 0, 0, 0
    first, second = values[0], values[1] if len(values) > 1 else 1
    if kind.strip().upper() in ("ROW", "COL"):
        return first, second, sum(values)
    if kind.strip().upper() != "STANDARD" or len(values) != 2:
        return 0, 0, 0
    return first, second, first * second


class PrintService:
    """The print objects of one association and what to do with them."""

    def __init__(self, printer_folder: Path | str, logs: Logs | None = None, hook: PrintHook | None = None,
                 uid_prefix: str = "1.2.826.0.1.3680043.2.135.1066", max_film_boxes: int = 16,
                 max_image_boxes: int = 64):
        self.folder = Path(printer_folder)
        self.logs = logs or process_logs
        self.hook = hook
        self.uid_prefix = uid_prefix
        self.max_film_boxes = max_film_boxes
        self.max_image_boxes = max_image_boxes
        self.sessions: dict[str, FilmSession] = {}
        self.saved: list[Path] = []

    # -- dispatch -----------------------------------------------------------------------
    def handle(self, request: NRequest) -> NResponse:
        """Answer one print request (any SOP class of the print meta classes)."""
        handler = _HANDLERS.get((request.command, request.sop_class))
        if handler is None:
            return failure(UNRECOGNISED_OPERATION, "operation not supported by this print SCP", request)
        return handler(self, request)

    def _hooked(self, name: str, ds: Dataset, request: NRequest) -> bool:
        """Give the event to the ``printserver`` hook; False when there is none or it
        returned False (no ``[lua] printserver`` script): then the built-in action runs."""
        return self.hook is not None and self.hook(name, ds, request) is not False

    def _event(self, name: str, message: str, ds: Dataset, request: NRequest) -> None:
        if not self._hooked(name, ds, request):
            self.logs.operator.printf(message + "\n")

    # -- printer ------------------------------------------------------------------------
    def get_printer(self, request: NRequest) -> NResponse:
        self._event("gettingprinter", "getting Printer", request.dataset or Dataset(), request)
        ds = Dataset()
        ds.PrinterStatus = "NORMAL"
        ds.PrinterStatusInfo = "NORMAL"
        ds.PrinterName = PRINTER_NAME
        if request.attributes:
            ds = Dataset({tag: ds[tag] for tag in ds.keys() if int(tag) in request.attributes}) \
                if any(int(t) in request.attributes for t in ds.keys()) else Dataset()
        return NResponse(SUCCESS, ds, PRINTER, PRINTER_INSTANCE)

    def printer_event(self, request: NRequest) -> NResponse:
        self._event("neventprinter", "N-event Printer", request.dataset or Dataset(), request)
        return NResponse(SUCCESS, None, PRINTER, PRINTER_INSTANCE, type_id=request.type_id)

    # -- film session -------------------------------------------------------------------
    def create_session(self, request: NRequest) -> NResponse:
        ds = request.dataset or Dataset()
        copies = str(ds.get("NumberOfCopies", "") or "1").strip()
        if not copies.isdigit() or not 1 <= int(copies) <= 99:
            return failure(INVALID_ATTRIBUTE_VALUE, f"Number of Copies {copies!r} outside 1-99", request)
        uid = request.sop_instance or gen_uid(self.uid_prefix)
        if uid in self.sessions:
            return failure(0x0111, "film session exists", request)
        self.sessions[uid] = FilmSession(uid, ds)
        self._event("creatingbasicfilmsession", "Creating Basic Film Session", ds, request)
        return NResponse(SUCCESS, ds, FILM_SESSION, uid)

    def set_session(self, request: NRequest) -> NResponse:
        session = self.sessions.get(request.sop_instance)
        if session is None:
            return failure(NO_SUCH_INSTANCE, "no such film session", request)
        ds = request.dataset or Dataset()
        for elem in ds:
            session.attributes[elem.tag] = elem
        self._event("setbasicfilmsession", "Set Basic Film Session", ds, request)
        return NResponse(SUCCESS, None, FILM_SESSION, session.uid)

    def print_session(self, request: NRequest) -> NResponse:
        session = self.sessions.get(request.sop_instance)
        if session is None:
            return failure(NO_SUCH_INSTANCE, "no such film session", request)
        if not session.film_boxes:
            return failure(0xC600, "film session holds no film box", request)
        self._event("printbasicfilmsession", "Printing Basic Film Session", request.dataset or Dataset(), request)
        return NResponse(SUCCESS, None, FILM_SESSION, session.uid, type_id=request.type_id)

    def delete_session(self, request: NRequest) -> NResponse:
        if self.sessions.pop(request.sop_instance, None) is None:
            return failure(NO_SUCH_INSTANCE, "no such film session", request)
        self._event("deletebasicfilmsession", "Deleting Basic Film Session", Dataset(), request)
        return NResponse(SUCCESS, None, FILM_SESSION, request.sop_instance)

    # -- film box -----------------------------------------------------------------------
    def _session_of(self, ds: Dataset) -> FilmSession | None:
        refs = ds.get("ReferencedFilmSessionSequence") or []
        if refs:
            return self.sessions.get(str(refs[0].get("ReferencedSOPInstanceUID", "")))
        return next(reversed(self.sessions.values()), None) if len(self.sessions) == 1 else None

    def _film_box(self, uid: str) -> tuple[FilmSession, FilmBox] | None:
        for session in self.sessions.values():
            if uid in session.film_boxes:
                return session, session.film_boxes[uid]
        return None

    def create_film_box(self, request: NRequest) -> NResponse:
        ds = request.dataset or Dataset()
        session = self._session_of(ds)
        if session is None:
            return failure(INVALID_ATTRIBUTE_VALUE, "film box does not reference a film session", request)
        if len(session.film_boxes) >= self.max_film_boxes:
            return failure(RESOURCE_LIMITATION, f"more than {self.max_film_boxes} film boxes", request)
        size = str(ds.get("FilmSizeID", "") or "").strip()
        if size and size not in FILM_SIZES:
            return failure(INVALID_ATTRIBUTE_VALUE, f"unknown Film Size ID {size!r}", request)
        rows, cols, count = display_format_boxes(str(ds.get("ImageDisplayFormat", "") or ""))
        if count <= 0 or count > self.max_image_boxes:
            return failure(INVALID_ATTRIBUTE_VALUE, "Image Display Format gives no or more than "
                           f"{self.max_image_boxes} image boxes", request)
        uid = request.sop_instance or gen_uid(self.uid_prefix)
        film = _next_film()
        box_class = COLOR_IMAGE_BOX if request.context_class == COLOR_META else GRAY_IMAGE_BOX
        boxes = []
        for i in range(count):
            suffix = f".{(film - 1) % 1000}.{rows}.{cols}.{i}"
            boxes.append(_box_base(uid, suffix) + suffix)
        response = Dataset()
        for elem in ds:
            response.add(elem)
        items = []
        for box in boxes:
            item = Dataset()
            item.ReferencedSOPClassUID = box_class
            item.ReferencedSOPInstanceUID = box
            items.append(item)
        response.ReferencedImageBoxSequence = Sequence(items)
        session.film_boxes[uid] = FilmBox(uid, ds, boxes)
        orientation = str(ds.get("FilmOrientation", "") or "")
        orientation += " " * (len(orientation) % 2)          # the original logs the padded value
        self._event("createbasicfilmbox", f"Creating Basic Film Box with {count} Image boxes - {orientation} - "
                    f"Film# {film}", response, request)
        return NResponse(SUCCESS, response, FILM_BOX, uid)

    def set_film_box(self, request: NRequest) -> NResponse:
        found = self._film_box(request.sop_instance)
        if found is None:
            return failure(NO_SUCH_INSTANCE, "no such film box", request)
        for elem in request.dataset or Dataset():
            found[1].attributes[elem.tag] = elem
        self._event("setbasicfilmbox", "Set Basic Film Box", request.dataset or Dataset(), request)
        return NResponse(SUCCESS, None, FILM_BOX, request.sop_instance)

    def print_film_box(self, request: NRequest) -> NResponse:
        found = self._film_box(request.sop_instance)
        if found is None:
            return failure(NO_SUCH_INSTANCE, "no such film box", request)
        self._event("printbasicfilmbox", "Printing Basic Film Box", request.dataset or Dataset(), request)
        status = SUCCESS if found[1].images_set else 0xB603      # empty page (warning)
        return NResponse(status, None, FILM_BOX, request.sop_instance, type_id=request.type_id)

    def delete_film_box(self, request: NRequest) -> NResponse:
        found = self._film_box(request.sop_instance)
        if found is None:
            return failure(NO_SUCH_INSTANCE, "no such film box", request)
        del found[0].film_boxes[request.sop_instance]
        self._event("deletebasicfilmbox", "Deleting Basic Film Box", Dataset(), request)
        return NResponse(SUCCESS, None, FILM_BOX, request.sop_instance)

    # -- image box ----------------------------------------------------------------------
    def set_image_box(self, request: NRequest) -> NResponse:
        uid = request.sop_instance
        box = next((fb for s in self.sessions.values() for fb in s.film_boxes.values() if uid in fb.image_boxes),
                   None)
        if box is None:
            return failure(NO_SUCH_INSTANCE, "no such image box", request)
        ds = request.dataset or Dataset()
        seq_tag = IMAGE_SEQUENCE[request.sop_class]
        items = ds[seq_tag].value if seq_tag in ds else []
        if not items:
            return failure(MISSING_ATTRIBUTE, "image box N-SET without an image", request)
        image = items[0]
        problem = _image_problem(image, request.sop_class == COLOR_IMAGE_BOX)
        if problem:
            return failure(INVALID_ATTRIBUTE_VALUE, problem, request)
        target = self.folder / f"{uid}.dcm"
        if not self._hooked(str(target), ds, request):
            try:
                self._save(image, uid, request.sop_class, target)
            except OSError as exc:
                self.logs.operator.printf(f"***Print file {target} not written: {exc}\n")
                return failure(PROCESSING_FAILURE, "image could not be saved", request)
            self.logs.operator.printf(f"Print file: {target}\n")
        box.images_set.add(uid)
        return NResponse(SUCCESS, None, request.sop_class, uid)

    def _save(self, image: Dataset, uid: str, box_class: str, target: Path) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        out = Dataset()
        for elem in image:
            out.add(elem)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = UID(str(image.get("SOPClassUID", "") or box_class))
        meta.MediaStorageSOPInstanceUID = UID(uid)
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
        out.file_meta = meta
        tmp = target.with_name(target.name + ".partial")
        out.save_as(tmp, enforce_file_format=True)
        os.replace(tmp, target)
        self.saved.append(target)


def _box_base(film_box_uid: str, suffix: str) -> str:
    """The film box UID, or, when it is too long to take the suffix within 64 characters
    (long UIDPrefix), a name-based ``2.25.`` UID made from it: cutting it would give
    every film box of a second the same image box UIDs (and file names)."""
    if len(film_box_uid) + len(suffix) <= 64:
        return film_box_uid
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, film_box_uid).int}"[:64 - len(suffix)]


def _image_problem(image: Dataset, color: bool) -> str:
    """Why an image box image cannot be printed ('' when it can)."""
    try:
        rows, cols = int(image.Rows), int(image.Columns)
        samples = int(image.get("SamplesPerPixel", 3 if color else 1))
        bits = int(image.get("BitsAllocated", 8))
        data = image.PixelData
    except (AttributeError, TypeError, ValueError, KeyError):
        return "image without Rows, Columns or Pixel Data"
    if not (0 < rows <= MAX_IMAGE_SIDE and 0 < cols <= MAX_IMAGE_SIDE) or bits not in (8, 16) \
            or samples != (3 if color else 1):
        return f"image size {rows}x{cols}x{samples}, {bits} bits is not printable"
    expected = rows * cols * samples * bits // 8
    if not expected <= len(data) <= expected + 1:
        return f"pixel data holds {len(data)} bytes, {rows}x{cols} needs {expected}"
    return ""


_HANDLERS: dict[tuple[int, str], Callable[[PrintService, NRequest], NResponse]] = {
    (N_GET, PRINTER): PrintService.get_printer,
    (N_EVENT_REPORT, PRINTER): PrintService.printer_event,
    (N_CREATE, FILM_SESSION): PrintService.create_session,
    (N_SET, FILM_SESSION): PrintService.set_session,
    (N_ACTION, FILM_SESSION): PrintService.print_session,
    (N_DELETE, FILM_SESSION): PrintService.delete_session,
    (N_CREATE, FILM_BOX): PrintService.create_film_box,
    (N_SET, FILM_BOX): PrintService.set_film_box,
    (N_ACTION, FILM_BOX): PrintService.print_film_box,
    (N_DELETE, FILM_BOX): PrintService.delete_film_box,
    (N_SET, GRAY_IMAGE_BOX): PrintService.set_image_box,
    (N_SET, COLOR_IMAGE_BOX): PrintService.set_image_box,
}
OPERATIONS = tuple(_HANDLERS)
