"""DICOMweb and WADO-URI of dgate's web server on compressed and NKI stored objects (JPEG
Baseline/Extended/Lossless, JPEG 2000, RLE, JPEG-LS, NKI, YBR and palette colour):
transcoding, frames that agree with the metadata, rendered and thumbnail resources and
WADO-URI images, through dicomweb-client and plain HTTP against a real server."""
from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import RLELossless, generate_uid
from test_web_dicomweb import multipart, parse_multipart
from webhelpers import WebServer

FILES = {
    "jpeg_ybr": "SC_rgb_jpeg_dcmtk.dcm",          # JPEG Baseline, YBR_FULL colour
    "jpeg12": "JPEG-lossy.dcm",                   # JPEG Extended, 12 bits
    "jpeg_ll": "JPEG-LL.dcm",                     # JPEG Lossless SV1, 16 bits
    "j2k": "JPEG2000.dcm",                        # JPEG 2000, grey 16 bits
    "j2k_rct": "US1_J2KR.dcm",                    # JPEG 2000 lossless colour, YBR_RCT
    "rle": "MR_small_RLE.dcm",
    "rle_rgb": "SC_rgb_rle.dcm",
    "rle_frames": "emri_small_RLE.dcm",           # 10 frames
    "jls": "MR_small_jpeg_ls_lossless.dcm",
    "jls_near": "SC_rgb_jls_lossy_line.dcm",      # JPEG-LS near-lossless colour
    "ybr_native": "SC_ybr_full_uncompressed.dcm",  # native YBR_FULL
    "palette_rle": "OBXXXX1A_rle.dcm",            # PALETTE COLOR in RLE
    "ct": "CT_small.dcm",
}
LOSSLESS_KEYS = {"jpeg_ll", "j2k_rct", "rle", "rle_rgb", "rle_frames", "jls", "ybr_native", "palette_rle", "ct",
                 "nki", "ybr_rle", "mono1"}


def _renamed(ds, key):
    ds = copy.deepcopy(ds)
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = f"CODEC-{key}"
    ds.InstanceNumber = 1
    return ds


def objects() -> dict:
    from dgate import codec
    out = {key: _renamed(dcmread(get_testdata_file(name)), key) for key, name in FILES.items()}
    ybr = copy.deepcopy(out["ybr_native"])
    ybr.compress(RLELossless, encoding_plugin="pydicom")      # RLE that keeps YBR_FULL
    assert ybr.PhotometricInterpretation == "YBR_FULL"
    out["ybr_rle"] = _renamed(ybr, "ybr_rle")
    nki = _renamed(dcmread(get_testdata_file("CT_small.dcm")), "nki")
    out["nki"] = codec.recompress(nki, "n4")
    assert 0x7FDF0010 in out["nki"] and "PixelData" not in out["nki"]
    mono1 = _renamed(dcmread(get_testdata_file("CT_small.dcm")), "mono1")
    mono1.PhotometricInterpretation = "MONOCHROME1"
    out["mono1"] = mono1
    return out


def expected(ds) -> np.ndarray:
    """All frames (frames, rows, columns[, samples]) as a standard decoder gives them (RGB)."""
    from dgate import codec
    ds = codec.readable(copy.deepcopy(ds))
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return arr if frames > 1 else arr[None]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    server = WebServer(tmp_path_factory.mktemp("codec"), IncomingCompression="as", AllowNKIAsDICOM="1")
    objs = objects()
    body, boundary = multipart([("application/dicom", _part10(ds)) for ds in objs.values()])
    r = requests.post(server.url + "/dicom-web/studies", data=body,
                      headers={"Content-Type": f"multipart/related; type=application/dicom; boundary={boundary}"})
    assert r.status_code == 200, r.text
    server.objs = objs
    server.client = DICOMwebClient(server.url + "/dicom-web")
    yield server
    server.stop()


def _part10(ds) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def uids(ds):
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


def url_of(site, ds, base="/dicom-web"):
    st, se, sop = uids(ds)
    return f"{site.url}{base}/studies/{st}/series/{se}/instances/{sop}"


def value(meta, tag, default=None):
    item = meta.get(tag, {})
    return item.get("Value", [default])[0] if item.get("Value") else default


def native_array(body: bytes, meta: dict) -> np.ndarray:
    rows, cols = value(meta, "00280010"), value(meta, "00280011")
    samples, bits = value(meta, "00280002", 1), value(meta, "00280100")
    kind = ("i" if value(meta, "00280103", 0) else "u") + str(bits // 8)
    arr = np.frombuffer(body, "<" + kind)[:rows * cols * samples]
    if samples == 1:
        return arr.reshape(rows, cols)
    if value(meta, "00280006", 0):
        return arr.reshape(samples, rows, cols).transpose(1, 2, 0)
    return arr.reshape(rows, cols, samples)


# -- storage, metadata and frames -------------------------------------------------------------
def test_objects_are_stored_as_sent(site):
    for key, ds in site.objs.items():
        stored = site.handle.ctx.db().get_file(str(ds.SOPInstanceUID))
        path = site.handle.ctx.locate(stored.device, stored.object_file)
        on_disk = dcmread(path)
        assert on_disk.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID, key
        assert (0x7FDF0010 in on_disk) == (key == "nki"), key


@pytest.mark.parametrize("key", sorted(list(FILES) + ["nki", "ybr_rle", "mono1"]))
def test_metadata_agrees_with_native_frames(site, key):
    ds = site.objs[key]
    meta = site.client.retrieve_instance_metadata(*uids(ds))
    photometric, samples = value(meta, "00280004"), value(meta, "00280002", 1)
    assert "7FE00010" in meta and "7FDF0010" not in meta
    if samples == 3:
        assert photometric == "RGB" and value(meta, "00280006", 0) == 0, (key, photometric)
    want = expected(ds)
    numbers = list(range(1, want.shape[0] + 1))
    got = site.client.retrieve_instance_frames(*uids(ds), numbers, media_types=("application/octet-stream",))
    assert len(got) == len(numbers)
    for index, body in enumerate(got):
        arr = native_array(body, meta)
        diff = np.abs(arr.astype(np.int64) - want[index].astype(np.int64)).max()
        assert diff == 0 if key in LOSSLESS_KEYS else diff <= 2, (key, index, diff)


@pytest.mark.parametrize("key", ["jpeg_ybr", "jpeg12", "jpeg_ll", "j2k", "j2k_rct", "rle", "rle_rgb", "jls",
                                 "jls_near", "palette_rle"])
def test_compressed_frames_go_out_as_stored(site, key):
    ds = site.objs[key]
    r = requests.get(url_of(site, ds) + "/frames/1", headers={
        "Accept": "multipart/related; type=application/octet-stream; transfer-syntax=*"})
    (ctype, body), = parse_multipart(r)
    ts = str(ds.file_meta.TransferSyntaxUID)
    assert ctype.endswith(f"transfer-syntax={ts}") and not ctype.startswith("application/octet-stream")
    assert body == next(generate_frames(ds.PixelData, number_of_frames=1))


def _decode_part(body: bytes, ts: str, meta: dict, like) -> np.ndarray:
    """A compressed frame decoded the way a strict client does it: pixel description from
    the metadata, colour space from Photometric Interpretation."""
    from pydicom.dataset import FileMetaDataset
    ds = copy.deepcopy(like)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    for tag, keyword in (("00280004", "PhotometricInterpretation"), ("00280002", "SamplesPerPixel"),
                         ("00280100", "BitsAllocated"), ("00280101", "BitsStored"), ("00280103",
                         "PixelRepresentation")):
        setattr(ds, keyword, value(meta, tag))
    if "NumberOfFrames" in ds:
        del ds.NumberOfFrames
    for keyword in ("PlanarConfiguration",):
        if value(meta, "00280006") is not None:
            setattr(ds, keyword, value(meta, "00280006"))
    ds.PixelData = encapsulate([body])
    return ds.pixel_array


def test_ybr_frames_that_decoders_would_not_make_rgb_are_recoded(site):
    ds = site.objs["ybr_rle"]
    meta = site.client.retrieve_instance_metadata(*uids(ds))
    r = requests.get(url_of(site, ds) + "/frames/1", headers={
        "Accept": "multipart/related; type=application/octet-stream; transfer-syntax=*"})
    (ctype, body), = parse_multipart(r)
    got = _decode_part(body, ctype.rsplit("=", 1)[1], meta, ds) if "octet-stream" not in ctype \
        else native_array(body, meta)
    assert np.array_equal(got, expected(ds)[0])


@pytest.mark.parametrize("media,ts", [("image/jpeg", "1.2.840.10008.1.2.4.70"),
                                      ("image/jls", "1.2.840.10008.1.2.4.80"),
                                      ("image/jp2", "1.2.840.10008.1.2.4.90"),
                                      ("image/dicom-rle", "1.2.840.10008.1.2.5")])
@pytest.mark.parametrize("key", ["ct", "nki", "rle_rgb", "jpeg_ll", "ybr_native", "rle_frames"])
def test_frames_transcoded_losslessly(site, key, media, ts):
    ds = site.objs[key]
    meta = site.client.retrieve_instance_metadata(*uids(ds))
    want = expected(ds)
    numbers = [1] if want.shape[0] == 1 else [2, 5]
    r = requests.get(url_of(site, ds) + "/frames/" + ",".join(map(str, numbers)),
                     headers={"Accept": f'multipart/related; type="{media}"'})
    parts = parse_multipart(r)
    assert [p[0] for p in parts] == [f"{media}; transfer-syntax={ts}"] * len(numbers)
    for (_ctype, body), n in zip(parts, numbers):
        assert np.array_equal(_decode_part(body, ts, meta, ds), want[n - 1]), (key, media)


def test_lossy_frames_when_asked_and_refusals(site):
    ds = site.objs["rle_rgb"]
    r = requests.get(url_of(site, ds) + "/frames/1", headers={
        "Accept": "multipart/related; type=image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50"})
    (ctype, body), = parse_multipart(r)
    assert ctype == "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50" and body[:2] == b"\xff\xd8"
    rgb = np.asarray(Image.open(io.BytesIO(body)).convert("RGB")).astype(int)
    assert np.abs(rgb - expected(ds)[0]).mean() < 3               # lossy, but the same picture
    ct = site.objs["ct"]
    r = requests.get(url_of(site, ct) + "/frames/1", headers={
        "Accept": "multipart/related; type=image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50"})
    assert r.status_code == 406 and "JPEG Baseline" in r.text     # 16-bit data
    r = requests.get(url_of(site, site.objs["palette_rle"]) + "/frames/1", headers={
        "Accept": "multipart/related; type=image/jls"})
    assert r.status_code == 406 and "PALETTE COLOR" in r.text


@pytest.mark.parametrize("ts", ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.70",
                                "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5",
                                "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.1.99"])
@pytest.mark.parametrize("key", ["ct", "nki", "jpeg_ll", "j2k_rct", "rle_frames", "jls", "palette_rle"])
def test_instances_transcoded(site, key, ts):
    ds = site.objs[key]
    if ts in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1.99"):        # dicomweb-client does not ask for these
        r = requests.get(url_of(site, ds), headers={"Accept": f"multipart/related; type=application/dicom; "
                                                              f"transfer-syntax={ts}"})
        (ctype, body), = parse_multipart(r)
        assert ctype == f"application/dicom; transfer-syntax={ts}"
        got = dcmread(io.BytesIO(body))
    else:
        got = site.client.retrieve_instance(*uids(ds), media_types=(("application/dicom", ts),))
    assert got.file_meta.TransferSyntaxUID == ts
    assert 0x7FDF0010 not in got
    arr = got.pixel_array if int(got.get("NumberOfFrames", 1) or 1) > 1 else got.pixel_array[None]
    if key == "palette_rle" and got.SamplesPerPixel == 3:      # decompressing expands palettes (Conquest's way)
        from pydicom.pixels import apply_color_lut
        assert np.array_equal(arr[0], apply_color_lut(expected(ds)[0], ds) >> 8)
        return
    assert np.array_equal(arr, expected(ds)), (key, ts)


def test_nki_files_are_served_as_ordinary_pixel_data(site):
    ds = site.objs["nki"]
    plain = expected(ds)
    r = requests.get(url_of(site, ds), headers={"Accept": 'multipart/related; type="application/dicom"; '
                                                          "transfer-syntax=*"})
    (_ctype, body), = parse_multipart(r)
    got = dcmread(io.BytesIO(body))
    assert 0x7FDF0010 not in got and np.array_equal(got.pixel_array, plain[0])
    series = site.client.retrieve_series(*uids(ds)[:2])
    assert 0x7FDF0010 not in series[0] and np.array_equal(series[0].pixel_array, plain[0])
    r = requests.get(site.url + "/wado", params={"requestType": "WADO", "studyUID": uids(ds)[0], "seriesUID":
                     uids(ds)[1], "objectUID": uids(ds)[2], "contentType": "application/dicom"})
    got = dcmread(io.BytesIO(r.content))
    assert 0x7FDF0010 not in got and np.array_equal(got.pixel_array, plain[0])
    meta = site.client.retrieve_instance_metadata(*uids(ds))
    bulk = meta["7FE00010"]["BulkDataURI"].replace("http://127.0.0.1/", f"http://127.0.0.1:{site.port}/")
    (ctype, body), = parse_multipart(requests.get(bulk))
    assert np.array_equal(native_array(body, meta), plain[0])


# -- rendered and thumbnail --------------------------------------------------------------------
def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("key", sorted(list(FILES) + ["nki", "ybr_rle", "mono1"]))
def test_every_kind_renders(site, key):
    ds = site.objs[key]
    data = site.client.retrieve_instance_rendered(*uids(ds), media_types=("image/png",))
    image = image_of(data)
    assert image.format == "PNG" and image.size[0] == ds.Columns
    arr = np.asarray(image.convert("RGB")).astype(int)
    assert arr.std() > 5                                       # a picture, not a blank
    if ds.SamplesPerPixel == 3:
        want = expected(ds)[0].astype(int)
        if want.max() > 255:
            want = want >> (int(ds.BitsStored) - 8)
        assert np.abs(arr - want).mean() < 1.0, key             # colours as decoded (RGB)


def test_grey_pipeline_follows_ps3_3(site):
    ct = site.objs["ct"]
    values = ct.pixel_array * float(ct.RescaleSlope) + float(ct.RescaleIntercept)
    for function in ("linear", "linear-exact", "sigmoid"):
        data = site.client.retrieve_instance_rendered(*uids(ct), media_types=("image/png",),
                                                      params={"window": f"40,400,{function}"})
        got = np.asarray(image_of(data)).astype(int)
        if function == "linear":
            want = np.clip(((values - 39.5) / 399 + 0.5), 0, 1)
        elif function == "linear-exact":
            want = np.clip((values - 40) / 400 + 0.5, 0, 1)
        else:
            want = 1 / (1 + np.exp(-4 * (values - 40) / 400))
        assert np.abs(got - np.rint(want * 255)).max() <= 1, function
    default = np.asarray(image_of(site.client.retrieve_instance_rendered(*uids(ct), media_types=("image/png",))))
    assert "WindowCenter" not in ct                                # no window in the file: its value range
    low, high = values.min(), values.max()
    want = np.rint(np.clip((values - (low + high) / 2) / (high - low) + 0.5, 0, 1) * 255)
    assert np.abs(default.astype(int) - want).max() <= 1
    mr = site.objs["rle"]                                          # MR_small has a window: it is used
    values = mr.pixel_array.astype(float)
    center, width = float(mr.WindowCenter), float(mr.WindowWidth)
    got = np.asarray(image_of(site.client.retrieve_instance_rendered(*uids(mr), media_types=("image/png",))))
    want = np.rint(np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0, 1) * 255)
    assert np.abs(got.astype(int) - want).max() <= 1
    mono1 = site.objs["mono1"]
    inverted = np.asarray(image_of(site.client.retrieve_instance_rendered(*uids(mono1), media_types=("image/png",))))
    assert np.abs(inverted.astype(int) - (255 - default.astype(int))).max() <= 1


def test_viewport_region_flip_quality_annotation_icc(site):
    ct = site.objs["ct"]
    url = url_of(site, ct) + "/rendered"
    png = {"Accept": "image/png"}
    full = np.asarray(image_of(requests.get(url, headers=png).content))
    small = image_of(requests.get(url, params={"viewport": "32,20"}, headers=png).content)
    assert small.size == (20, 20)                                # fitted, aspect kept
    cut = np.asarray(image_of(requests.get(url, params={"viewport": "16,8,8,4,-16,8"}, headers=png).content))
    assert cut.shape == (8, 16)
    assert np.array_equal(cut, full[4:12, 8:24][:, ::-1])       # region, flipped left-right, same size
    big = requests.get(url, params={"quality": "95"}).content
    low = requests.get(url, params={"quality": "5"}).content
    assert image_of(low).format == "JPEG" and len(low) < len(big)
    plain = np.asarray(image_of(requests.get(url, headers=png).content).convert("RGB")).astype(int)
    marked = np.asarray(image_of(requests.get(url, params={"annotation": "patient,technique"},
                                              headers=png).content).convert("RGB")).astype(int)
    assert np.abs(plain - marked).sum() > 1000
    r = requests.get(url, params={"annotation": "patient,weather"}, headers=png)
    assert r.status_code == 200 and "weather" in r.headers["Warning"]
    icc = image_of(requests.get(url, params={"iccprofile": "srgb"}).content)
    assert icc.info.get("icc_profile")
    gif = image_of(requests.get(url, headers={"Accept": "image/gif"}).content)
    j2k = image_of(requests.get(url, headers={"Accept": "image/jp2"}).content)
    assert gif.format == "GIF" and j2k.format == "JPEG2000"
    by_param = requests.get(url, params={"accept": "image/png"}, headers={"Accept": "image/jpeg"})
    assert by_param.headers["content-type"] == "image/png"


def test_multiframe_series_and_study_rendering(site):
    ds = site.objs["rle_frames"]
    st, se, sop = uids(ds)
    gif = image_of(site.client.retrieve_instance_rendered(st, se, sop, media_types=("image/gif",)))
    assert gif.n_frames == 10
    first = image_of(site.client.retrieve_instance_rendered(st, se, sop, media_types=("image/png",)))
    frame1 = image_of(site.client.retrieve_instance_frames_rendered(st, se, sop, [1], media_types=("image/png",)))
    assert np.array_equal(np.asarray(first), np.asarray(frame1))
    r = requests.get(url_of(site, ds) + "/frames/2,4/rendered", headers={"Accept": 'multipart/related; '
                                                                                  'type="image/png"'})
    parts = parse_multipart(r)
    assert [p[0] for p in parts] == ["image/png", "image/png"]
    frame4 = image_of(site.client.retrieve_instance_frames_rendered(st, se, sop, [4], media_types=("image/png",)))
    assert np.array_equal(np.asarray(image_of(parts[1][1])), np.asarray(frame4))
    r = requests.get(url_of(site, ds) + "/frames/2,4/rendered", headers={"Accept": "image/png"})
    assert r.status_code == 406 and "multipart" in r.text
    r = requests.get(url_of(site, ds) + "/frames/2,4/rendered", headers={"Accept": "image/gif"})
    assert image_of(r.content).n_frames == 2
    series = f"{site.url}/dicom-web/studies/{st}/series/{se}/rendered"
    assert image_of(site.client.retrieve_series_rendered(st, se, media_types=("image/jpeg",))).format == "JPEG"
    r = requests.get(series, headers={"Accept": 'multipart/related; type="image/jpeg"'})
    assert len(parse_multipart(r)) == 10
    r = requests.get(f"{site.url}/dicom-web/studies/{st}/rendered", headers={"Accept": "image/png"})
    assert r.status_code == 200 and image_of(r.content).format == "PNG"


def test_thumbnails_standard_and_conquest(site):
    from dgate import codec
    ds = site.objs["j2k_rct"]                                    # 640 x 480
    st, se, sop = uids(ds)
    for url in (f"{site.url}/dicom-web/studies/{st}/thumbnail", f"{site.url}/dicom-web/studies/{st}/series/{se}/"
                "thumbnail", url_of(site, ds) + "/thumbnail", url_of(site, ds) + "/frames/1/thumbnail"):
        r = requests.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", url
        assert image_of(r.content).size == (128, 96)
    assert image_of(requests.get(url_of(site, ds) + "/thumbnail", params={"viewport": "64,64"},
                                 headers={"Accept": "image/png"}).content).size == (64, 48)
    conquest = requests.get(url_of(site, ds, "/api/dicom/rs") + "/thumbnail").content
    assert conquest == codec.render(codec.readable(copy.deepcopy(ds)), "jpg", size=128)      # save jpg size 128
    frames = site.objs["rle_frames"]
    third = requests.get(url_of(site, frames, "/api/dicom/rs") + "/thumbnail/frames/3").content
    assert third == codec.render(copy.deepcopy(frames), "jpg", size=128, frame=2)
    assert third == requests.get(url_of(site, frames, "/api/dicom/rs") + "/frames/3/thumbnail").content
    r = requests.get(url_of(site, ds) + "/thumbnail", params={"viewport": "64,64,0,0,10,10"})
    assert r.status_code == 400


@pytest.mark.parametrize("query,status,text", [
    ({"window": "40"}, 400, "window"), ({"window": "40,x,linear"}, 400, "window width"),
    ({"window": "40,400,cubic"}, 400, "cubic"), ({"window": "40,0.5,linear"}, 400, "at least 1"),
    ({"viewport": "0,10"}, 400, "vw"), ({"viewport": "10"}, 400, "viewport"), ({"viewport": "5000,10"}, 400, "4096"),
    ({"viewport": "10,10,500,500,10,10"}, 400, "outside"), ({"viewport": "10,10,-1,0,5,5"}, 400, "negative"),
    ({"quality": "0"}, 400, "quality"), ({"quality": "abc"}, 400, "quality"),
    ({"iccprofile": "adobergb"}, 400, "sRGB"), ({"iccprofile": "maybe"}, 400, "iccprofile")])
def test_malformed_rendering_parameters(site, query, status, text):
    r = requests.get(url_of(site, site.objs["ct"]) + "/rendered", params=query)
    assert r.status_code == status and text in r.text, r.text


def test_rendering_errors(site):
    ct = site.objs["ct"]
    assert requests.get(url_of(site, ct) + "/rendered", headers={"Accept": "video/mp4"}).status_code == 406
    assert requests.get(url_of(site, ct) + "/frames/2/rendered").status_code == 404
    assert requests.get(url_of(site, ct) + "/frames/0/rendered").status_code == 400
    st = uids(ct)[0]
    assert requests.get(f"{site.url}/dicom-web/studies/{st}9/rendered").status_code == 404
    assert requests.get(f"{site.url}/dicom-web/studies/{st}/thumbnail",
                        headers={"Accept": "multipart/related; type=image/jpeg"}).status_code == 406


# -- WADO-URI images ---------------------------------------------------------------------------
def wado(site, ds, path="/wado", **params):
    st, se, sop = uids(ds)
    query = {"requestType": "WADO", "studyUID": st, "seriesUID": se, "objectUID": sop, **params}
    return requests.get(site.url + path, params=query)


def test_wado_uri_images(site):
    from dgate import codec
    frames = site.objs["rle_frames"]
    animated = wado(site, frames, contentType="image/gif")
    assert animated.headers["content-type"] == "image/gif" and image_of(animated.content).n_frames == 10
    third = wado(site, frames, contentType="image/gif", frameNumber="3").content           # 1-based at /wado
    assert image_of(third).n_frames == 1
    assert third == codec.render(copy.deepcopy(frames), "gif", frame=2)
    conquest = wado(site, frames, "/api/dicom/wadouri", contentType="image/jpeg", frameNumber="2").content
    assert conquest == wado(site, frames, contentType="image/jpeg", frameNumber="3").content     # 0-based there
    ct = site.objs["ct"]
    cut = wado(site, ct, contentType="image/png", region="0.25,0.1,0.75,0.6").content     # left,top,right,bottom
    assert cut == wado(site, ct, "/api/dicom/wadouri", contentType="image/png",
                       region="0.25,0.75,0.1,0.6").content                                 # xstart,xend,ystart,yend
    assert image_of(cut).size == (65, 65) and image_of(cut).format == "PNG"
    assert image_of(wado(site, ct, contentType="image/jpeg", rows="32").content).size == (32, 32)
    narrow = wado(site, ct, contentType="image/png", windowCenter="40", windowWidth="80").content
    assert narrow != wado(site, ct, contentType="image/png").content
    small = wado(site, ct, contentType="image/jpeg", imageQuality="5").content
    assert len(small) < len(wado(site, ct, contentType="image/jpeg").content)
    assert image_of(wado(site, ct, contentType="image/bmp").content).format == "BMP"
    assert image_of(wado(site, ct, contentType="image/jp2").content).format == "JPEG2000"
    assert wado(site, ct, contentType="image/jpeg").content == codec.render(copy.deepcopy(ct), "jpg", size=0)
    assert wado(site, ct, "/api/dicom/wadouri", contentType="image/jpeg").content == \
        codec.render(copy.deepcopy(ct), "jpg", size=1600)
    strip = wado(site, frames, "/api/dicom/wadouri", contentType="image/jpeg", frameNumber="-3")
    assert strip.headers["content-type"] == "image/jpeg" and image_of(strip.content).size == (192, 64)
    for key in ("jpeg_ybr", "j2k_rct", "jls_near", "palette_rle", "nki"):
        r = wado(site, site.objs[key], contentType="image/jpeg")
        assert r.status_code == 200 and np.asarray(image_of(r.content)).std() > 5, key


def test_wado_uri_dicom_syntaxes(site):
    ct = site.objs["ct"]
    got = dcmread(io.BytesIO(wado(site, site.objs["jls"], contentType="application/dicom").content))
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"                     # the default
    got = dcmread(io.BytesIO(wado(site, ct, contentType="application/dicom",
                                  transferSyntax="1.2.840.10008.1.2.4.80").content))
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"
    assert np.array_equal(got.pixel_array, ct.pixel_array)
    got = dcmread(io.BytesIO(wado(site, ct, contentType="application/dicom", transferSyntax="n4").content))
    assert 0x7FDF0010 in got and not [e for e in got if e.VR == "SQ"]
    r = wado(site, ct, contentType="application/dicom", transferSyntax="1.2.840.10008.1.2.4.50")
    assert r.status_code == 406 and "JPEG Baseline" in r.text
    r = wado(site, ct, contentType="application/dicom", transferSyntax="1.2.3.4")
    assert r.status_code == 400


@pytest.mark.parametrize("params,text", [
    ({"region": "0.1,0.2,0.3"}, "region"), ({"region": "0.5,0.5,0.2,0.9"}, "no pixels"),
    ({"region": "0,0,1.5,1"}, "region"), ({"rows": "0"}, "rows"), ({"columns": "x"}, "columns"),
    ({"windowCenter": "40"}, "together"), ({"windowCenter": "40", "windowWidth": "-3"}, "windowWidth"),
    ({"frameNumber": "2"}, "frameNumber"), ({"frameNumber": "a"}, "frameNumber"),
    ({"imageQuality": "101"}, "imageQuality"), ({"presentationUID": "1.2.3"}, "presentation")])
def test_wado_uri_malformed_parameters(site, params, text):
    r = wado(site, site.objs["ct"], contentType="image/jpeg", **params)
    assert r.status_code == 400 and text in r.text, r.text


def test_wado_uri_unservable_types(site):
    r = wado(site, site.objs["ct"], contentType="video/mpeg")
    assert r.status_code == 406 and "application/dicom" in r.text
    r = wado(site, site.objs["ct"], contentType="video/mpeg,image/png")                  # the list is tried in order
    assert r.headers["content-type"] == "image/png"
