"""Headless Debian chromium driven by selenium (chromedriver from Debian) for the web tests."""
from __future__ import annotations

import shutil
import time

from webhelpers import need

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def have_browser() -> bool:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return bool(shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER))


def open_browser():
    need(have_browser(), "chromium, chromium-driver or selenium is not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:      # the page is still loading: elements come and go
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


CANVAS_STATS = """
const canvases = [...document.querySelectorAll(arguments[0])].filter(c => c.width > 0 && c.height > 0);
let best = {lit: 0, distinct: 0, width: 0, height: 0, count: canvases.length};
for (const c of canvases) {
  let data;
  try {
    const ctx = c.getContext('2d');
    if (ctx) data = ctx.getImageData(0, 0, c.width, c.height).data;
  } catch (e) { data = null; }
  if (!data) {
    const keep = {preserveDrawingBuffer: true};
    const gl = c.getContext('webgl2', keep) || c.getContext('webgl', keep);
    if (!gl) continue;
    data = new Uint8Array(c.width * c.height * 4);
    gl.readPixels(0, 0, c.width, c.height, gl.RGBA, gl.UNSIGNED_BYTE, data);
  }
  let lit = 0; const seen = new Set();
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] || data[i + 1] || data[i + 2]) lit++;
    if (seen.size < 300) seen.add(data[i] * 65536 + data[i + 1] * 256 + data[i + 2]);
  }
  if (lit > best.lit) best = {lit, distinct: seen.size, width: c.width, height: c.height, count: canvases.length};
}
return best;
"""
