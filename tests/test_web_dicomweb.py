"""DICOMweb (PS3.18) of dgate's web server, driven by dicomweb-client and plain HTTP."""
from __future__ import annotations

import gzip
import http.client
import io
import json
import zipfile

import numpy as np
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from webhelpers import WebServer, sample_paths


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    server = WebServer(tmp_path_factory.mktemp("web"), WebMaxUpload="2", IncomingCompression="as")
    client = DICOMwebClient(server.url + "/dicom-web")
    files = sample_paths()
    client.store_instances([dcmread(p) for p in files])
    server.files = files
    server.client = client
    yield server
    server.stop()


def by_name(web, name):
    return dcmread(next(p for p in web.files if p.name == name))


def test_stow_stored_everything_through_ingest(web):
    assert web.count_images() == len(web.files)
    for p in web.files:
        sop = dcmread(p, stop_before_pixels=True).SOPInstanceUID
        assert list((web.folder / "data").rglob("*.dcm")), "files written to MAG0"
        found = web.client.search_for_instances(search_filters={"SOPInstanceUID": sop})
        assert len(found) == 1


def test_stow_partial_failure_202_and_all_failed_409(web):
    ct = dcmread(web.files[0])
    body, boundary = multipart([("application/dicom", open(web.files[0], "rb").read()),
                                ("application/dicom", b"this is not dicom at all" * 10)])
    r = requests.post(web.url + "/dicom-web/studies", data=body, headers={
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'})
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["00081199"]["Value"][0]["00081155"]["Value"] == [ct.SOPInstanceUID]
    assert answer["00081198"]["Value"][0]["00081197"]["Value"] == [0xC000]
    body, boundary = multipart([("application/dicom", b"\0" * 300)])
    r = requests.post(web.url + "/dicom-web/studies", data=body,
                      headers={"Content-Type": f"multipart/related; type=application/dicom; boundary={boundary}"})
    assert r.status_code == 409 and "00081198" in r.json()
    assert "Warning" in r.headers
    # a study-level STOW refuses objects of another study
    r = requests.post(web.url + "/dicom-web/studies/1.2.3.4", data=multipart(
        [("application/dicom", open(web.files[0], "rb").read())], boundary)[0],
        headers={"Content-Type": f"multipart/related; type=application/dicom; boundary={boundary}"})
    assert r.status_code == 409
    assert r.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xC409]
    assert web.count_images() == len(web.files)


def test_stow_malformed_and_huge_bodies_change_nothing(web):
    before = web.count_images()
    data = open(web.files[0], "rb").read()
    url = web.url + "/dicom-web/studies"
    r = requests.post(url, data=b"--xyz\r\nContent-Type: application/dicom\r\n\r\n" + data,
                      headers={"Content-Type": "multipart/related; type=application/dicom; boundary=xyz"})
    assert r.status_code == 400 and "truncated" in r.text
    r = requests.post(url, data=data, headers={"Content-Type": "multipart/related; type=application/dicom"})
    assert r.status_code == 400 and "boundary" in r.text
    r = requests.post(url, data=data, headers={"Content-Type": "application/dicom"})
    assert r.status_code == 415
    big, boundary = multipart([("application/dicom", b"\0" * (3 * 1024 * 1024))])
    r = requests.post(url, data=big, headers={"Content-Type": f"multipart/related; boundary={boundary}"})
    assert r.status_code == 413 and "WebMaxUpload" in r.text

    def chunked():
        for _ in range(40):
            yield b"\0" * 100000
    r = requests.post(url, data=chunked(), headers={"Content-Type": "multipart/related; boundary=a"})
    assert r.status_code == 413
    assert web.count_images() == before


def test_stow_dicom_json_with_bulk_data(web):
    ds = dcmread(next(p for p in web.files if p.name == "MR_small.dcm"))
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".77"
    obj = ds.to_json_dict(bulk_data_threshold=1024, bulk_data_element_handler=lambda e: "pixels")
    body, boundary = multipart([("application/dicom+json", json.dumps([obj]).encode()),
                                ("application/octet-stream", ds.PixelData)], locations=[None, "pixels"])
    r = requests.post(web.url + "/dicom-web/studies", data=body, headers={
        "Content-Type": f'multipart/related; type="application/dicom+json"; boundary={boundary}'})
    assert r.status_code == 200, r.text
    back = web.client.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert np.array_equal(back.pixel_array, ds.pixel_array)
    assert back.PatientName == ds.PatientName


def test_qido_levels_and_matching(web):
    c = web.client
    studies = c.search_for_studies()
    uids = {dcmread(p, stop_before_pixels=True).StudyInstanceUID for p in web.files}
    assert {s["0020000D"]["Value"][0] for s in studies} == uids
    ct = by_name(web, "CT_small.dcm")
    one = c.search_for_studies(search_filters={"PatientID": ct.PatientID})
    assert [s["0020000D"]["Value"][0] for s in one] == [ct.StudyInstanceUID]
    s = one[0]
    assert s["00201206"]["Value"] == [1] and s["00201208"]["Value"] == [1]
    assert s["00080061"]["Value"] == ["CT"]
    assert s["00081190"]["Value"][0].endswith(f"/dicom-web/studies/{ct.StudyInstanceUID}")
    assert s["00080056"]["Value"] == ["ONLINE"]
    wild = c.search_for_studies(search_filters={"PatientName": "Compressed*"})
    assert ct.StudyInstanceUID in [x["0020000D"]["Value"][0] for x in wild]
    dated = c.search_for_studies(search_filters={"StudyDate": "20040101-20040131"})
    assert [x["0020000D"]["Value"][0] for x in dated] == [ct.StudyInstanceUID]
    mr = by_name(web, "MR_small.dcm")
    listed = c.search_for_studies(search_filters={"StudyInstanceUID": f"{ct.StudyInstanceUID},{mr.StudyInstanceUID}"})
    assert len(listed) == 2
    assert len(c.search_for_studies(limit=2)) == 2
    assert len(c.search_for_studies(limit=2, offset=len(uids) - 1)) == 1
    series = c.search_for_series(ct.StudyInstanceUID)
    assert series[0]["0020000E"]["Value"] == [ct.SeriesInstanceUID] and series[0]["00080060"]["Value"] == ["CT"]
    assert series[0]["00201209"]["Value"] == [1]
    all_series = c.search_for_series(search_filters={"Modality": "MR"})
    assert {x["0020000D"]["Value"][0] for x in all_series} >= {mr.StudyInstanceUID}
    inst = c.search_for_instances(ct.StudyInstanceUID, ct.SeriesInstanceUID)
    assert inst[0]["00080018"]["Value"] == [ct.SOPInstanceUID]
    assert inst[0]["00280010"]["Value"] == [ct.Rows]
    rel = c.search_for_instances(search_filters={"PatientID": ct.PatientID})
    assert [x["00080018"]["Value"][0] for x in rel] == [ct.SOPInstanceUID]
    study_inst = c.search_for_instances(ct.StudyInstanceUID)
    assert len(study_inst) == 1


def test_qido_includefield_fuzzy_and_errors(web):
    ct = by_name(web, "CT_small.dcm")
    base = web.url + "/dicom-web/studies"
    r = requests.get(base, params={"PatientID": ct.PatientID, "includefield": "PatientAge,00101030"})
    obj = r.json()[0]
    assert "00101010" in obj and "00101030" in obj
    r = requests.get(base, params={"PatientID": ct.PatientID, "includefield": "all"})
    assert "00101010" in r.json()[0]
    name = str(ct.PatientName).split("^")[1].lower()          # 'ct1': lower case, second component
    r = requests.get(base, params={"PatientName": name, "fuzzymatching": "true"})
    assert [o["0020000D"]["Value"][0] for o in r.json()] == [ct.StudyInstanceUID]
    r = requests.get(base, params={"PatientName": name})
    assert r.json() == []
    r = requests.get(base, params={"NoSuchAttribute": "1"})
    assert r.status_code == 400 and "NoSuchAttribute" in r.text
    r = requests.get(base, params={"limit": "x"})
    assert r.status_code == 400
    r = requests.get(base, params={"ReferencedStudySequence.ReferencedSOPInstanceUID": "1.2"})
    assert r.status_code == 200 and "not supported" in r.headers["Warning"]
    r = requests.get(base, headers={"Accept": "application/dicom+xml"})
    assert r.status_code == 406


def test_wado_rs_retrieve_keeps_stored_bytes(web):
    for p in web.files:
        orig = dcmread(p)
        got = web.client.retrieve_instance(orig.StudyInstanceUID, orig.SeriesInstanceUID, orig.SOPInstanceUID)
        assert got.file_meta.TransferSyntaxUID == orig.file_meta.TransferSyntaxUID
        assert got.PixelData == orig.PixelData
    ct = by_name(web, "CT_small.dcm")
    assert len(web.client.retrieve_study(ct.StudyInstanceUID)) == 1
    assert len(web.client.retrieve_series(ct.StudyInstanceUID, ct.SeriesInstanceUID)) == 1


def test_wado_rs_series_is_not_gzipped_and_has_its_exact_length(web):
    """DICOM is sent as stored even to a client accepting gzip (compressing pixel data costs
    CPU for little gain), with a Content-Length that is the body's size, for both the
    ``transfer-syntax=*`` and the no-syntax (Explicit VR LE) Accept."""
    ct = by_name(web, "CT_small.dcm")
    url = f"{web.url}/dicom-web/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}"
    stored = next(f.read_bytes() for f in (web.folder / "data").rglob("*.dcm")
                  if dcmread(f, stop_before_pixels=True).SOPInstanceUID == ct.SOPInstanceUID)
    for accept in ('multipart/related; type="application/dicom"; transfer-syntax=*',
                   'multipart/related; type="application/dicom"'):
        r = requests.get(url, headers={"Accept": accept, "Accept-Encoding": "gzip"}, stream=True)
        body = r.raw.read()
        assert r.status_code == 200 and "content-encoding" not in r.headers, r.headers
        assert int(r.headers["content-length"]) == len(body)
        assert [part.body for part in parse_multipart_body(r, body)] == [stored]


def parse_multipart_body(response, body: bytes):
    from dgate.web.multipart import parse_buffer, parse_media_type
    _media, params = parse_media_type(response.headers["content-type"])
    return parse_buffer(body, params["boundary"])


def test_wado_rs_negotiation(web):
    j2k = by_name(web, "JPEG2000.dcm")
    url = instance_url(web, j2k)
    r = requests.get(url, headers={"Accept": 'multipart/related; type="application/dicom"'})
    assert r.status_code == 200
    part = parse_multipart(r)[0]
    assert "transfer-syntax=1.2.840.10008.1.2.1" in part[0]
    ds = dcmread(io.BytesIO(part[1]))
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert np.array_equal(ds.pixel_array, j2k.pixel_array)
    r = requests.get(url, headers={"Accept": "text/html"})
    assert r.status_code == 406 and r.text.strip()
    ct = by_name(web, "CT_small.dcm")
    url = f"{web.url}/dicom-web/studies/{ct.StudyInstanceUID}"
    r = requests.get(url, headers={"Accept": 'multipart/related; type="application/dicom"; '
                                             "transfer-syntax=1.2.840.10008.1.2.4.80"})
    (ctype, body), = parse_multipart(r)                    # transcoded: JPEG-LS lossless
    assert "transfer-syntax=1.2.840.10008.1.2.4.80" in ctype
    got = dcmread(io.BytesIO(body))
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"
    assert np.array_equal(got.pixel_array, ct.pixel_array)
    baseline = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50'
    r = requests.get(url, headers={"Accept": baseline})      # 16-bit CT cannot be JPEG Baseline
    assert r.status_code == 406 and "JPEG Baseline" in r.text
    r = requests.get(url, headers={"Accept": baseline + ", multipart/related; type=application/dicom; "
                                             "transfer-syntax=1.2.840.10008.1.2.4.90"})
    (ctype, body), = parse_multipart(r)                    # the next acceptable one
    assert "1.2.840.10008.1.2.4.90" in ctype and np.array_equal(dcmread(io.BytesIO(body)).pixel_array,
                                                                ct.pixel_array)
    r = requests.get(url, headers={"Accept": 'multipart/related; type="application/dicom"; '
                                             "transfer-syntax=1.2.840.10008.1.2.4.53"})
    assert r.status_code == 406 and "JPEG Spectral Selection" in r.text   # no encoder writes .53
    r = requests.get(f"{web.url}/dicom-web/studies/1.2.3.999")
    assert r.status_code == 404 and r.text.strip()


def test_metadata_and_bulk_data(web):
    emri = by_name(web, "emri_small.dcm")
    meta = web.client.retrieve_series_metadata(emri.StudyInstanceUID, emri.SeriesInstanceUID)
    assert len(meta) == 1
    m = meta[0]
    assert m["00080018"]["Value"] == [emri.SOPInstanceUID]
    assert m["00280008"]["Value"] == [10]
    uri = m["7FE00010"]["BulkDataURI"]
    # dicomweb-client sends a Host header without the port, so URIs in its answers lack it too
    uri = uri.replace("http://127.0.0.1/", f"http://127.0.0.1:{web.port}/")
    r = requests.get(uri, headers={"Accept": "multipart/related; type=application/octet-stream"})
    frames = parse_multipart(r)
    assert len(frames) == 10 and b"".join(f[1] for f in frames) == emri.PixelData
    hits = web.handle.ctx.metadata.hits
    web.client.retrieve_series_metadata(emri.StudyInstanceUID, emri.SeriesInstanceUID)
    assert web.handle.ctx.metadata.hits == hits + 1


def test_frames_native_and_compressed(web):
    emri = by_name(web, "emri_small.dcm")
    frames = web.client.retrieve_instance_frames(emri.StudyInstanceUID, emri.SeriesInstanceUID,
                                                 emri.SOPInstanceUID, [1, 3])
    arr = emri.pixel_array
    assert np.frombuffer(frames[0], "<u2").reshape(64, 64).tolist() == arr[0].tolist()
    assert np.frombuffer(frames[1], "<u2").reshape(64, 64).tolist() == arr[2].tolist()
    base = f"{web.url}/dicom-web/studies/{emri.StudyInstanceUID}/series/{emri.SeriesInstanceUID}"
    r = requests.get(f"{base}/instances/{emri.SOPInstanceUID}/frames/11")
    assert r.status_code == 404 and "10 frame" in r.text
    r = requests.get(f"{base}/instances/{emri.SOPInstanceUID}/frames/0,a")
    assert r.status_code == 400
    j2k = by_name(web, "JPEG2000.dcm")
    base = instance_url(web, j2k)
    r = requests.get(base + "/frames/1", headers={"Accept": 'multipart/related; type="image/jp2"'})
    (ctype, body), = parse_multipart(r)
    assert ctype.startswith("image/jp2") and body.rstrip(b"\0") == j2k_frame(j2k).rstrip(b"\0")
    r = requests.get(base + "/frames/1", headers={"Accept": "multipart/related; type=application/octet-stream"})
    (ctype, body), = parse_multipart(r)
    assert ctype.startswith("application/octet-stream")
    assert np.frombuffer(body, j2k.pixel_array.dtype.newbyteorder("<")).tolist() == j2k.pixel_array.ravel().tolist()
    r = requests.get(base + "/frames/1", headers={"Accept": 'multipart/related; type="image/jls"'})
    (ctype, body), = parse_multipart(r)                    # transcoded to JPEG-LS lossless
    assert ctype == "image/jls; transfer-syntax=1.2.840.10008.1.2.4.80"
    import imagecodecs
    mask = (1 << int(j2k.BitsStored)) - 1                  # signed data travels as its bit pattern
    assert np.array_equal(imagecodecs.jpegls_decode(body).astype(np.int64) & mask,
                          j2k.pixel_array.astype(np.int64) & mask)
    r = requests.get(base + "/frames/1", headers={"Accept": 'multipart/related; type="video/mp4"'})
    assert r.status_code == 406 and "JPEG 2000" in r.text


def test_wado_uri(web):
    ct = by_name(web, "CT_small.dcm")
    q = {"requestType": "WADO", "studyUID": ct.StudyInstanceUID, "seriesUID": ct.SeriesInstanceUID,
         "objectUID": ct.SOPInstanceUID}
    r = requests.get(web.url + "/wado", params={**q, "contentType": "application/dicom"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/dicom"
    assert dcmread(io.BytesIO(r.content)).SOPInstanceUID == ct.SOPInstanceUID
    r = requests.get(web.url + "/api/dicom/wadouri", params={**q, "contentType": "text/plain"})
    assert r.status_code == 200 and "0008,0018" in r.text
    r = requests.get(web.url + "/wado", params=q)                 # default: image/jpeg, drawn as Conquest does
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    from PIL import Image
    assert Image.open(io.BytesIO(r.content)).size == (128, 128)
    r = requests.get(web.url + "/wado", params={"requestType": "WADO", "studyUID": "1"})
    assert r.status_code == 400
    r = requests.get(web.url + "/wado", params={**q, "contentType": "application/dicom", "anonymize": "yes"})
    assert r.status_code == 500 and "anonymize_script.cq" in r.text     # no anonymizer: nothing served


def test_capabilities_conquest_paths_and_headers(web):
    r = requests.get(web.url + "/dicom-web/", headers={"Accept": "application/vnd.sun.wadl+xml"})
    assert r.status_code == 200 and "SearchForStudies" in r.text and "RetrieveFrames" in r.text
    a = requests.get(web.url + "/api/dicom/rs/studies").json()
    b = requests.get(web.url + "/dicom-web/studies").json()
    assert [x["0020000D"] for x in a] == [x["0020000D"] for x in b]
    r = requests.get(web.url + "/dicom-web/studies", headers={"Accept-Encoding": "gzip", "Origin": "http://x"})
    assert r.headers.get("content-encoding") == "gzip" and r.headers["access-control-allow-origin"] == "*"
    raw = requests.get(web.url + "/dicom-web/studies", headers={"Accept-Encoding": "gzip"}, stream=True).raw.read()
    assert json.loads(gzip.decompress(raw)) == b
    r = requests.get(web.url + "/api/dicom/rs/modalities")
    assert r.status_code == 200 and isinstance(r.json(), list)
    ct = by_name(web, "CT_small.dcm")
    r = requests.get(f"{web.url}/api/dicom/rs/studies/{ct.StudyInstanceUID}/zip")
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert len(names) == 1 and names[0].endswith(".dcm")
    r = requests.get(f"{web.url}/api/dicom/rs/studies/{ct.StudyInstanceUID}/zip",
                     params={"script": 'set PatientName to "ZIPPED"'})
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert zf.namelist() == [f"{ct.SOPInstanceUID}.dcm"]
    assert dcmread(io.BytesIO(zf.read(zf.namelist()[0]))).PatientName == "ZIPPED"


@pytest.mark.parametrize("path", ["/ui/../dicom.ini", "/ui/%2e%2e/dicom.ini", "/ui/..%2fdicom.ini",
                                  "/app/ohif/../../dicom.ini", "/ui/a%00b", "/ui/%5c..%5cdicom.ini"])
def test_no_path_traversal(web, path):
    conn = http.client.HTTPConnection("127.0.0.1", web.port)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    assert 400 <= r.status < 500 and b"MicroPACS" not in body
    conn.close()


# -- helpers ---------------------------------------------------------------------------
def instance_url(web, ds):
    return (f"{web.url}/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}")


def multipart(parts, boundary="b0undary42", locations=None):
    chunks = []
    for i, (ctype, body) in enumerate(parts):
        head = f"--{boundary}\r\nContent-Type: {ctype}\r\n"
        if locations and locations[i]:
            head += f"Content-Location: {locations[i]}\r\n"
        chunks += [head.encode() + b"\r\n", body, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), boundary


def parse_multipart(response):
    from dgate.web.multipart import parse_buffer, parse_media_type
    _media, params = parse_media_type(response.headers["content-type"])
    assert response.status_code == 200, response.text
    return [(p.content_type, p.body) for p in parse_buffer(response.content, params["boundary"])]


def j2k_frame(ds):
    from pydicom.encaps import generate_frames
    return next(generate_frames(ds.PixelData, number_of_frames=1))


def test_metadata_cache_follows_file_changes(web):
    mr = by_name(web, "MR_small.dcm")
    url = f"{web.url}/dicom-web/studies/{mr.StudyInstanceUID}/series/{mr.SeriesInstanceUID}/metadata"
    listed = requests.get(url).json()
    first = next(o for o in listed if o["00080018"]["Value"] == [mr.SOPInstanceUID])
    stored = web.handle.ctx.db().get_file(mr.SOPInstanceUID)
    path = web.handle.ctx.locate(stored.device, stored.object_file)
    ds = dcmread(path)
    ds.StudyDescription = "changed on disk"
    ds.save_as(path)
    second = next(o for o in requests.get(url).json() if o["00080018"]["Value"] == [mr.SOPInstanceUID])
    assert second["00081030"]["Value"] == ["changed on disk"] != first.get("00081030", {}).get("Value")
    path.write_bytes(b"broken")
    left = requests.get(url).json()                             # left out, not a 500
    assert len(left) == len(listed) - 1 and all(o["00080018"]["Value"] != [mr.SOPInstanceUID] for o in left)
    ds.save_as(path)


def test_keep_alive_and_no_blocking_while_streaming(web):
    import socket
    import time
    conn = http.client.HTTPConnection("127.0.0.1", web.port)
    for _ in range(3):                                   # three requests on one connection
        conn.request("GET", "/dicom-web/studies")
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())
    sock = conn.sock
    conn.request("GET", "/dicom-web/studies?limit=1")
    r = conn.getresponse()
    r.read()
    assert conn.sock is sock                             # still the same socket
    conn.close()
    emri = by_name(web, "emri_small.dcm")
    slow = socket.create_connection(("127.0.0.1", web.port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(f"GET /dicom-web/studies/{emri.StudyInstanceUID} HTTP/1.1\r\nHost: x\r\n"
                 'Accept: multipart/related; type="application/dicom"; transfer-syntax=*\r\n\r\n'.encode())
    assert slow.recv(100).startswith(b"HTTP/1.1 200")    # a retrieve that the client does not read
    start = time.monotonic()
    assert requests.get(web.url + "/dicom-web/studies", timeout=5).status_code == 200
    assert time.monotonic() - start < 2
    slow.close()
