"""Our web UI (webserver/) in headless chromium on JPEG-compressed studies: a colour JPEG
Baseline image is drawn from server-rendered frames with its true colours, a 12-bit JPEG
Extended grey image from server-decoded native frames, and with "server rendering" ticked
from rendered frames that follow window/level; series thumbnails are shown."""
from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import requests
from browser import CANVAS_STATS, open_browser, wait_for
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from test_web_dicomweb import multipart
from webhelpers import WebServer

SAMPLES = """
const c = document.getElementById('v-canvas');
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
const out = [];
for (let y = 0; y < c.height; y += 16) for (let x = 0; x < c.width; x += 16) out.push(d[4 * (y * c.width + x)]);
return out;
"""
PIXEL_AT = """
const c = document.getElementById('v-canvas');
const d = c.getContext('2d').getImageData(arguments[0], arguments[1], 1, 1).data;
return [d[0], d[1], d[2]];
"""


def renamed(name: str, patient: str):
    ds = dcmread(get_testdata_file(name))
    ds = copy.deepcopy(ds)
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID, ds.PatientName = patient, f"JPEG^{patient}"
    return ds


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    web = WebServer(tmp_path_factory.mktemp("uicodec"), IncomingCompression="as")
    colour, grey = renamed("SC_rgb_jpeg_dcmtk.dcm", "COLOUR"), renamed("JPEG-lossy.dcm", "GREY")
    parts = []
    for ds in (colour, grey):
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        parts.append(("application/dicom", out.getvalue()))
    body, boundary = multipart(parts)
    r = requests.post(web.url + "/dicom-web/studies", data=body,
                      headers={"Content-Type": f"multipart/related; type=application/dicom; boundary={boundary}"})
    assert r.status_code == 200, r.text
    driver = open_browser()
    yield web, colour, grey, driver
    driver.quit()
    web.stop()


def open_series(web, driver, patient: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    driver.get(web.url + "/ui/")
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#study-table tbody tr[data-study]")) == 2,
             what="studies")
    box = driver.find_element(By.NAME, "PatientID")
    box.send_keys(patient, Keys.ENTER)
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#study-table tbody tr[data-study]")) == 1,
             what="search result")
    driver.find_element(By.CSS_SELECTOR, "#study-table tbody tr").click()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#series-table tbody tr"), what="series")
    thumb = driver.find_element(By.CSS_SELECTOR, "#series-table img.thumb")
    wait_for(lambda: driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", thumb),
             what="series thumbnail")
    driver.find_element(By.CSS_SELECTOR, "#series-table tbody tr").click()


def test_stored_compressed(site):
    from test_web_dicomweb import parse_multipart
    web, colour, grey, _ = site
    for ds in (colour, grey):
        url = (f"{web.url}/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
               f"{ds.SOPInstanceUID}")
        r = requests.get(url, headers={"Accept": "multipart/related; type=application/dicom; transfer-syntax=*"})
        (ctype, _body), = parse_multipart(r)
        assert ctype.endswith(f"transfer-syntax={ds.file_meta.TransferSyntaxUID}")


def test_colour_jpeg_renders_with_its_colours(site):
    from selenium.webdriver.common.by import By
    web, colour, _, driver = site
    open_series(web, driver, "COLOUR")
    wait_for(lambda: "server rendered" in driver.find_element(By.ID, "v-info").text, what="rendered image")
    stats = wait_for(lambda: (s := driver.execute_script(CANVAS_STATS, "#v-canvas"))["lit"] > 1000 and s,
                     what="drawn image")
    assert (stats["width"], stats["height"]) == (colour.Columns, colour.Rows)
    want = colour.pixel_array.astype(int)                        # RGB, as a standard decoder gives it
    for x, y in ((10, 5), (50, 50), (90, 95), (5, 60)):
        got = driver.execute_script(PIXEL_AT, x, y)
        assert np.abs(np.array(got) - want[y, x]).max() <= 3, (x, y, got, want[y, x])


def test_grey_jpeg_native_and_server_rendered(site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    web, _, grey, driver = site
    open_series(web, driver, "GREY")
    stats = wait_for(lambda: (s := driver.execute_script(CANVAS_STATS, "#v-canvas"))["lit"] > 10000 and s,
                     what="native image")
    assert (stats["width"], stats["height"]) == (grey.Columns, grey.Rows) and stats["distinct"] > 50
    assert "server rendered" not in driver.find_element(By.ID, "v-info").text
    native = np.array(driver.execute_script(SAMPLES))
    driver.find_element(By.ID, "v-server").click()
    wait_for(lambda: "server rendered" in driver.find_element(By.ID, "v-info").text, what="server rendering")
    wait_for(lambda: driver.execute_script(CANVAS_STATS, "#v-canvas")["lit"] > 10000, what="rendered image")
    server = np.array(driver.execute_script(SAMPLES))
    assert native.shape == server.shape and np.abs(native - server).mean() < 3     # the same picture
    rendered = driver.execute_script("return document.getElementById('v-canvas').toDataURL()")
    width = driver.find_element(By.ID, "v-width")
    width.clear()
    width.send_keys("200", Keys.ENTER)
    wait_for(lambda: driver.execute_script("return document.getElementById('v-canvas').toDataURL()") != rendered,
             what="window/level change rendered by the server")
