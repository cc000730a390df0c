"""OHIF (npm ``@ohif/app``) installed by ``python3 -m dgate.web.ohif`` and served at
``/app/ohif/`` on our DICOMweb, in headless chromium: the study list shows our studies,
a study opens and its image renders (non-blank canvas pixels), a JPEG Baseline colour
study renders with its colours, and thumbnails come from our ``/thumbnail`` resource."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from browser import CANVAS_STATS, open_browser, wait_for
from conftest import REPO
from pydicom import dcmread
from test_web_dicomweb import multipart
from webhelpers import WebServer, need, sample_paths

CACHE = Path(os.environ.get("DGATE_OHIF_CACHE", Path.home() / ".cache" / "dgate"))


def ohif_tarball() -> Path:
    from dgate.web.ohif import OHIF_VERSION, OhifSetupError, fetch_tarball
    cached = CACHE / f"ohif-app-{OHIF_VERSION}.tgz"
    if not cached.is_file():
        need(shutil.which("npm") is not None, "npm is not installed")
        CACHE.mkdir(parents=True, exist_ok=True)
        try:
            fetched = fetch_tarball(OHIF_VERSION, CACHE)
        except OhifSetupError as exc:
            need(False, f"cannot fetch @ohif/app: {exc}")
        fetched.rename(cached)
    return cached


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tarball = ohif_tarball()
    folder = tmp_path_factory.mktemp("ohif")
    web = WebServer(folder, IncomingCompression="as")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "dgate.web.ohif", "-w", str(folder), "--tarball", str(tarball)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    files = sample_paths()
    jpeg = jpeg_colour_study()
    body, boundary = multipart([("application/dicom", p.read_bytes()) for p in files] + [("application/dicom", jpeg)])
    assert requests.post(web.url + "/dicom-web/studies", data=body,
                         headers={"Content-Type": f"multipart/related; boundary={boundary}"}).status_code == 200
    driver = open_browser()
    yield web, files, driver
    driver.quit()
    web.stop()


def jpeg_colour_study() -> bytes:
    """SC_rgb_jpeg_dcmtk (JPEG Baseline, YCbCr) as a study of its own."""
    import io

    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid
    ds = dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName, ds.PatientID = "JPEGTEST^COLOUR", "JPEGCOLOUR"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


COLOUR_COUNTS = """
const canvases = [...document.querySelectorAll('canvas')].filter(c => c.width > 0 && c.height > 0);
let best = {red: 0, green: 0, blue: 0};
for (const c of canvases) {
  let data;
  try { const ctx = c.getContext('2d'); if (ctx) data = ctx.getImageData(0, 0, c.width, c.height).data; }
  catch (e) { data = null; }
  if (!data) {
    const keep = {preserveDrawingBuffer: true};
    const gl = c.getContext('webgl2', keep) || c.getContext('webgl', keep);
    if (!gl) continue;
    data = new Uint8Array(c.width * c.height * 4);
    gl.readPixels(0, 0, c.width, c.height, gl.RGBA, gl.UNSIGNED_BYTE, data);
  }
  const n = {red: 0, green: 0, blue: 0};
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
    if (r > 200 && g < 60 && b < 60) n.red++;
    if (g > 200 && r < 60 && b < 60) n.green++;
    if (b > 200 && r < 60 && g < 60) n.blue++;
  }
  if (n.red + n.green + n.blue > best.red + best.green + best.blue) best = n;
}
return best;
"""


def test_setup_rewrote_links(site):
    web, _, _ = site
    html = requests.get(web.url + "/app/ohif/").text
    assert 'window.PUBLIC_URL="/app/ohif/"' in html and 'src="/app-config.js"' not in html
    config = requests.get(web.url + "/app/ohif/app-config.js").text
    assert "'/dicom-web'" in config and "routerBasename: '/app/ohif'" in config
    assert requests.get(web.url + "/app/ohif/viewer").text == html        # single-page routes


def test_study_list_and_viewer_render(site):
    web, files, driver = site
    driver.get(web.url + "/app/ohif/")
    body = wait_for(lambda: "CompressedSamples, CT1" in (t := driver.find_element("tag name", "body").text) and t,
                    timeout=60, what="OHIF study list")
    assert "CompressedSamples, MR1" in body and "Lestrade, G" in body
    from selenium.webdriver.common.by import By
    driver.find_element(By.XPATH, "//*[text()='CompressedSamples, CT1']").click()      # select the study
    wait_for(lambda: [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text == "Basic Viewer"],
             what="mode button")[0].click()
    ct = dcmread(files[0], stop_before_pixels=True)
    wait_for(lambda: ct.StudyInstanceUID in driver.current_url, what="viewer of the study")
    stats = wait_for(lambda: (s := driver.execute_script(CANVAS_STATS, "canvas"))["lit"] > 20000
                     and s["distinct"] > 50 and s, timeout=90, what="rendered image in OHIF")
    assert stats["width"] > 100 and stats["height"] > 100
    severe = [e["message"] for e in driver.get_log("browser")
              if e["level"] == "SEVERE" and "/dicom-web" in e["message"]]
    assert not severe, severe


def test_jpeg_colour_study_renders_with_its_colours(site):
    from selenium.webdriver.common.by import By
    web, _files, driver = site
    driver.get(web.url + "/app/ohif/")
    wait_for(lambda: "JPEGTEST, COLOUR" in driver.find_element("tag name", "body").text, timeout=60,
             what="OHIF study list")
    driver.find_element(By.XPATH, "//*[text()='JPEGTEST, COLOUR']").click()
    wait_for(lambda: [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text == "Basic Viewer"],
             what="mode button")[0].click()
    counts = wait_for(lambda: (c := driver.execute_script(COLOUR_COUNTS))["red"] > 300 and c["green"] > 300
                      and c["blue"] > 300 and c, timeout=90, what="red, green and blue bars in OHIF")
    assert min(counts.values()) > 300
    # OHIF asks for the study panel's thumbnails on its own schedule, sometimes after the
    # viewport has rendered (seen on a loaded CI machine), so wait for the request.
    thumbnails = ("return performance.getEntriesByType('resource').map(e => e.name)"
                  ".filter(u => u.includes('/thumbnail'))")
    wait_for(lambda: driver.execute_script(thumbnails), timeout=60, what="a request for /thumbnail")
    severe = [e["message"] for e in driver.get_log("browser")
              if e["level"] == "SEVERE" and "/dicom-web" in e["message"]]
    assert not severe, severe
