"""STOW-RS (PS3.18 §10.5): store instances sent as ``multipart/related`` parts.

Parts are ``application/dicom`` (Part 10 files) or ``application/dicom+json`` (an array
of data sets) whose BulkDataURIs name other parts by ``Content-Location``. Every object
goes through the one ingest pipeline (:mod:`.ingest_adapter`). The answer is the Store
Instances Response Module: ``ReferencedSOPSequence`` (with RetrieveURL) for stored
objects, ``FailedSOPSequence`` with a FailureReason (and, in the private element (0009,1001) of
creator ``DGATE STOW``, the reason in words: the pipeline's refusal, the converter verdict,
a database error) for the others; HTTP 200 when all
were stored, 202 when some failed, 409 when none was stored.
"""
from __future__ import annotations

import json

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID

from ..store.formats import EXPLICIT_LE, Encoded
from .context import WebContext
from .errors import HTTPProblem
from .ingest_adapter import StoreOutcome, locate_object, store_encoded, store_part
from .multipart import Part, parse_media_type

FAIL_PROCESSING = 0x0110
FAIL_SOP_CLASS = 0x0122
FAIL_WRONG_STUDY = 0xC409
FAIL_CANNOT_UNDERSTAND = 0xC000
CREATOR = "DGATE STOW"
REASON_CREATOR, REASON_TEXT = "00090010", "00091001"     # (0009,xx01) LT: why the object was not stored
MEDIA_SYNTAX = {"image/jpeg": "1.2.840.10008.1.2.4.50", "image/jls": "1.2.840.10008.1.2.4.80",
                "image/jp2": "1.2.840.10008.1.2.4.90", "image/dicom-rle": "1.2.840.10008.1.2.5"}


def store_parts(ctx: WebContext, parts: list[Part], study: str, root_type: str, peer: str = "") -> list[StoreOutcome]:
    """Store every object of a STOW request; returns one outcome per object (one bad part
    does not stop the others)."""
    by_location = {p.headers.get("content-location", ""): p for p in parts if p.headers.get("content-location")}
    outcomes: list[StoreOutcome] = []
    for part in parts:
        media, params = parse_media_type(part.content_type or root_type)
        if media == "application/dicom":
            outcomes.append(_store_file(ctx, part, study, peer))
        elif media == "application/dicom+json":
            outcomes.extend(_store_json(ctx, part.body, by_location, study, peer))
        elif part.headers.get("content-location") and media and media != "application/dicom":
            continue                                      # bulk data of a JSON part
        else:
            outcomes.append(StoreOutcome(False, reason=f"part of type '{media or 'none'}' is not a DICOM object",
                                         failure_code=FAIL_CANNOT_UNDERSTAND))
    if not outcomes:
        raise HTTPProblem(400, "the request holds no application/dicom or application/dicom+json part")
    return outcomes


def _check_study(outcome: StoreOutcome, study: str) -> StoreOutcome | None:
    if study and outcome.study and outcome.study != study:
        return StoreOutcome(False, outcome.sop_class, outcome.sop_instance, outcome.study,
                            f"StudyInstanceUID {outcome.study} differs from the request's {study}",
                            FAIL_WRONG_STUDY)
    return None


def _store_file(ctx: WebContext, part: Part, study: str, peer: str) -> StoreOutcome:
    try:
        obj = locate_object(part.source, part.start, part.end)
    except Exception as exc:
        return StoreOutcome(False, reason=f"not a DICOM object: {exc}", failure_code=FAIL_CANNOT_UNDERSTAND)
    uids = obj.uids
    probe = StoreOutcome(True, uids.get(0x00080016, ""), uids.get(0x00080018, ""), uids.get(0x0020000D, ""))
    wrong = _check_study(probe, study)
    if wrong is not None:
        return wrong
    if not probe.sop_class or not probe.sop_instance:
        return StoreOutcome(False, probe.sop_class, probe.sop_instance, probe.study,
                            "object without SOPClassUID or SOPInstanceUID", FAIL_CANNOT_UNDERSTAND)
    return store_part(ctx, obj, peer)


def _store_json(ctx: WebContext, body: bytes, by_location: dict[str, Part], study: str,
                peer: str) -> list[StoreOutcome]:
    try:
        items = json.loads(body)
    except ValueError as exc:
        return [StoreOutcome(False, reason=f"invalid DICOM JSON: {exc}", failure_code=FAIL_CANNOT_UNDERSTAND)]
    if isinstance(items, dict):
        items = [items]
    outcomes = []
    for item in items:
        syntax = {"ts": EXPLICIT_LE}

        def bulk(tag: str, vr: str, uri: str) -> bytes:
            part = by_location.get(uri)
            if part is None:
                raise ValueError(f"BulkDataURI {uri} names no part of the request")
            media, params = parse_media_type(part.content_type)
            if int(tag, 16) == 0x7FE00010 and media != "application/octet-stream":
                syntax["ts"] = params.get("transfer-syntax") or MEDIA_SYNTAX.get(media, "")
                if not syntax["ts"]:
                    raise ValueError(f"pixel data of media type {media} has no transfer syntax")
                return encapsulate([part.body])
            return part.body

        try:
            ds = Dataset.from_json(item, bulk_data_uri_handler=bulk)
            ds.file_meta = FileMetaDataset()
            ds.file_meta.TransferSyntaxUID = UID(syntax["ts"])
            encoded = Encoded.from_dataset(ds, syntax["ts"])
        except Exception as exc:
            outcomes.append(StoreOutcome(False, reason=f"cannot build the object from DICOM JSON: {exc}",
                                         failure_code=FAIL_CANNOT_UNDERSTAND))
            continue
        probe = StoreOutcome(True, str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", "")),
                             str(ds.get("StudyInstanceUID", "")))
        wrong = _check_study(probe, study)
        outcomes.append(wrong if wrong is not None else store_encoded(ctx, encoded, peer=peer))
    return outcomes


def response(outcomes: list[StoreOutcome], base_url: str, study: str) -> tuple[int, dict]:
    """(HTTP status, Store Instances Response as DICOM JSON)."""
    refs, failed = [], []
    for o in outcomes:
        if o.ok:
            item: dict[str, dict] = {"00081150": {"vr": "UI", "Value": [o.sop_class]},
                    "00081155": {"vr": "UI", "Value": [o.sop_instance]}}
            if o.study and o.series:
                url = f"{base_url}/studies/{o.study}/series/{o.series}/instances/{o.sop_instance}"
                item["00081190"] = {"vr": "UR", "Value": [url]}
            refs.append(item)
        else:
            item = {"00081197": {"vr": "US", "Value": [o.failure_code or FAIL_PROCESSING]}}
            if o.reason:          # the reason in words: a private element of creator DGATE
                item[REASON_CREATOR] = {"vr": "LO", "Value": [CREATOR]}
                item[REASON_TEXT] = {"vr": "LT", "Value": [o.reason[:1024]]}
            if o.sop_class:
                item["00081150"] = {"vr": "UI", "Value": [o.sop_class]}
            if o.sop_instance:
                item["00081155"] = {"vr": "UI", "Value": [o.sop_instance]}
            failed.append(item)
    body: dict = {}
    studies = {o.study for o in outcomes if o.ok and o.study}
    if study or len(studies) == 1:
        body["00081190"] = {"vr": "UR", "Value": [f"{base_url}/studies/{study or studies.pop()}"]}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": failed}
    if refs:
        body["00081199"] = {"vr": "SQ", "Value": refs}
    status = 200 if not failed else (202 if refs else 409)
    return status, body


def reasons(outcomes: list[StoreOutcome]) -> str:
    return "; ".join(f"{o.sop_instance or '(unknown)'}: {o.reason}" for o in outcomes if not o.ok)[:1000]
