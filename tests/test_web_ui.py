"""Our web UI (webserver/) in headless chromium: the study list shows our studies, search
filters it, a series opens in the viewer and renders (non-blank canvas pixels), frames
scroll, window/level changes the image, and query/move to another AE works."""
from __future__ import annotations

import pytest
from browser import CANVAS_STATS, open_browser, wait_for
from netpeers import DgateProcess, dcmtk, free_port, have_dcmtk
from pydicom import dcmread
from pydicom.data import get_testdata_file
from test_web_conquest import Destination
from webhelpers import WebServer, need

FILES = [get_testdata_file(n) for n in ("CT_small.dcm", "MR_small.dcm", "emri_small.dcm")]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    need(have_dcmtk(), "dcmtk is not installed")
    folder = tmp_path_factory.mktemp("ui")
    dest = Destination()
    dicom_port = free_port()
    web = WebServer(folder, TCPPort=str(dicom_port), WEBReadOnly="0")
    amap = folder / "acrnema.map"
    amap.write_text(amap.read_text().replace(
        "CONQUESTSRV1\t\t127.0.0.1\t5678\t\tun",
        f"CONQUESTSRV1\t\t127.0.0.1\t{dicom_port}\t\tun\nWEBDEST\t\t127.0.0.1\t{dest.port}\t\tun"))
    proc = DgateProcess(folder, dicom_port)
    r = dcmtk("storescu", "-aec", "CONQUESTSRV1", "127.0.0.1", str(dicom_port), *FILES)
    assert r.returncode == 0, r.stderr
    driver = open_browser()
    yield web, dest, driver
    driver.quit()
    proc.stop()
    web.stop()
    dest.stop()


def rows(driver, table):
    from selenium.webdriver.common.by import By
    return [r.text for r in driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")]


def test_study_list_search_and_viewer(site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    web, _, driver = site
    driver.get(web.url + "/ui/")
    listed = wait_for(lambda: len(rows(driver, "study-table")) == 3 and rows(driver, "study-table"), what="studies")
    assert any("1CT1" in r for r in listed) and any("CompressedSamples^MR1" in r for r in listed)
    box = driver.find_element(By.NAME, "PatientID")
    box.send_keys("1CT1", Keys.ENTER)
    wait_for(lambda: len(rows(driver, "study-table")) == 1, what="search result")
    assert "1CT1" in rows(driver, "study-table")[0]
    driver.find_element(By.CSS_SELECTOR, "#study-table tbody tr").click()
    wait_for(lambda: rows(driver, "series-table"), what="series")
    driver.find_element(By.CSS_SELECTOR, "#series-table tbody tr").click()
    stats = wait_for(lambda: (s := driver.execute_script(CANVAS_STATS, "#v-canvas"))["lit"] > 1000 and s,
                     what="rendered image")
    ct = dcmread(FILES[0])
    assert (stats["width"], stats["height"]) == (ct.Columns, ct.Rows)
    assert stats["distinct"] > 50
    before = driver.execute_script("return document.getElementById('v-canvas').toDataURL()")
    width = driver.find_element(By.ID, "v-width")
    width.clear()
    width.send_keys("50", Keys.ENTER)
    wait_for(lambda: driver.execute_script("return document.getElementById('v-canvas').toDataURL()") != before,
             what="window/level change")


def test_multiframe_scroll(site):
    from selenium.webdriver.common.by import By
    web, _, driver = site
    driver.get(web.url + "/ui/")
    wait_for(lambda: len(rows(driver, "study-table")) == 3, what="studies")
    emri = dcmread(FILES[2], stop_before_pixels=True)
    driver.find_element(By.CSS_SELECTOR, f'#study-table tr[data-study="{emri.StudyInstanceUID}"]').click()
    wait_for(lambda: rows(driver, "series-table"), what="series")
    driver.find_element(By.CSS_SELECTOR, "#series-table tbody tr").click()
    wait_for(lambda: "frame 1 of 10" in driver.find_element(By.ID, "v-info").text, what="first frame")
    first = driver.execute_script("return document.getElementById('v-canvas').toDataURL()")
    driver.find_element(By.ID, "v-next").click()
    wait_for(lambda: "frame 2 of 10" in driver.find_element(By.ID, "v-info").text, what="second frame")
    assert driver.execute_script("return document.getElementById('v-canvas').toDataURL()") != first
    assert driver.execute_script(CANVAS_STATS, "#v-canvas")["lit"] > 500


def test_query_and_move(site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    web, dest, driver = site
    driver.get(web.url + "/ui/")
    driver.find_element(By.CSS_SELECTOR, 'nav button[data-tab="remote"]').click()
    wait_for(lambda: len(Select(driver.find_element(By.ID, "remote-ae")).options) >= 2, what="AE list")
    Select(driver.find_element(By.ID, "remote-ae")).select_by_value("CONQUESTSRV1")
    Select(driver.find_element(By.ID, "move-target")).select_by_value("WEBDEST")
    driver.find_element(By.CSS_SELECTOR, '#remote-search input[name="PatientID"]').send_keys("1CT1")
    driver.find_element(By.CSS_SELECTOR, '#remote-search button[type="submit"]').click()
    wait_for(lambda: len(rows(driver, "remote-table")) == 1 and "1CT1" in rows(driver, "remote-table")[0],
             what="remote query result")
    driver.find_element(By.CSS_SELECTOR, "#remote-table button.move").click()
    wait_for(lambda: "moved to WEBDEST" in driver.find_element(By.ID, "move-result").text, what="move")
    assert dest.received == [dcmread(FILES[0], stop_before_pixels=True).SOPInstanceUID]
    driver.find_element(By.ID, "remote-echo").click()
    wait_for(lambda: "answers" in driver.find_element(By.ID, "remote-echo-result").text, what="echo")


def test_status_and_logs_views(site):
    from selenium.webdriver.common.by import By
    web, _, driver = site
    driver.get(web.url + "/ui/")
    driver.find_element(By.CSS_SELECTOR, 'nav button[data-tab="status"]').click()
    wait_for(lambda: "image: 3" in driver.find_element(By.ID, "counts").text, what="counts")
    assert "DICOM server 'CONQUESTSRV1'" in driver.find_element(By.ID, "status-text").text
    driver.find_element(By.CSS_SELECTOR, 'nav button[data-tab="logs"]').click()
    wait_for(lambda: "C-Store" in driver.find_element(By.ID, "log-user").text, what="user log")
    # the queues panel: a table of the server's queues (queue_status: of the running server)
    wait_for(lambda: "Delayed operations" in driver.find_element(By.ID, "queues").text, what="queues")
    heads = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "#queues table th")]
    assert heads[:3] == ["queue", "queued", "busy"] and "waiting for retry" in heads, heads
    cells = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#queues table tbody tr td")]
    assert "Forward associations" in cells, cells


def test_upload_through_stow(site):
    from selenium.webdriver.common.by import By
    web, _, driver = site
    driver.get(web.url + "/ui/")
    wait_for(lambda: driver.find_element(By.ID, "tab-upload").is_displayed(), what="upload tab")
    driver.find_element(By.ID, "tab-upload").click()
    driver.find_element(By.ID, "upload-files").send_keys(get_testdata_file("SC_rgb.dcm"))
    driver.find_element(By.ID, "upload-go").click()
    wait_for(lambda: "HTTP 200: 1 stored, 0 failed" in driver.find_element(By.ID, "upload-result").text,
             what="upload result")
    assert web.count_images() == 4
