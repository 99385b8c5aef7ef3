"""The report in a real browser: Debian's Chromium, headless, driven by Selenium through
Debian's chromedriver, opening the file from disk with the network switched off."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from asm_core.report.report_html import write_report
from asm_core.results.store import read_table

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CLICK = """
const box = arguments[0].getBoundingClientRect();
const at = {bubbles: true, clientX: box.x + box.width / 2, clientY: box.y + box.height / 2};
arguments[0].dispatchEvent(new MouseEvent("click", at));
"""
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


def _install_chromium() -> None:
    """Debian's chromium and its driver, installed with apt (CI runs as root on Debian);
    elsewhere the test says how and skips."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("needs Debian's chromium: apt-get install chromium chromium-driver")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"], check=True, env=env
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _install_chromium()
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not fetch a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def report(
    tracked_results: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int, int]:
    out = tmp_path_factory.mktemp("browser-report") / "report.html"
    summary = write_report(tracked_results / "results", out, tracked_results / "quicklooks")
    detections = read_table(tracked_results / "results", "detections").num_rows
    assert summary.detections == detections > 0 and summary.quicklooks == 2
    return summary.path, detections, summary.sites


def test_the_report_renders_every_detection_opens_popups_and_draws(
    browser: Any, report: tuple[Path, int, int], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    path, detections, sites = report
    browser.get(path.as_uri())
    info = WebDriverWait(browser, 20).until(lambda d: d.execute_script("return window.ASM_REPORT"))
    assert info["rendered"] == info["detections"] == detections
    assert info["sites"] == sites
    shapes = browser.find_elements(By.CSS_SELECTOR, "path.asm-detection")
    assert len(shapes) == detections
    assert len(browser.find_elements(By.CSS_SELECTOR, "path.asm-site")) == sites

    # a popup opens on a click on a detection (at the middle of its outline's box)
    browser.execute_script(CLICK, shapes[0])
    popup = WebDriverWait(browser, 5).until(  # once its fade-in has made it visible
        lambda d: [
            p
            for p in d.find_elements(By.CSS_SELECTOR, ".leaflet-popup-content")
            if p.is_displayed()
        ]
    )
    # its content, whether or not Leaflet has finished panning it wholly into view (Selenium's
    # .text leaves out rows still outside the viewport)
    content = popup[0].get_attribute("textContent")
    assert "area (ha)" in content and "confidence" in content

    # clicking a site draws its area over time beside the map, and its popup shows the
    # before/after chip of its alert (loaded from the chips folder beside the alerts)
    site = browser.find_elements(By.CSS_SELECTOR, "path.asm-site")[0]
    browser.execute_script(CLICK, site)
    WebDriverWait(browser, 5).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#site-chart svg polyline")
    )
    chip = WebDriverWait(browser, 5).until(
        lambda d: [i for i in d.find_elements(By.CSS_SELECTOR, "img.chip") if i.is_displayed()]
    )[0]
    WebDriverWait(browser, 5).until(
        lambda d: d.execute_script("return arguments[0].complete", chip)
    )
    assert browser.execute_script("return arguments[0].naturalWidth", chip) > 300
    assert "→" in browser.find_element(By.CSS_SELECTOR, ".chip-dates").text

    # the table sorts by a clicked column
    header = browser.find_element(By.CSS_SELECTOR, "#sites th[data-key='max_ha']")
    header.click()
    values = [
        float(cell.text)
        for cell in browser.find_elements(By.CSS_SELECTOR, "#sites tbody tr td:nth-child(4)")
    ]
    assert values == sorted(values)

    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []

    shot = browser.get_screenshot_as_png()
    (tmp_path / "report.png").write_bytes(shot)
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=np.float32)
    assert pixels.std() > 20, "the screenshot is blank"
    assert len(np.unique(pixels)) > 50


def test_a_large_report_shows_centroids_until_zoomed_in(
    browser: Any, tracked_results: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    summary = write_report(
        tracked_results / "results", tmp_path / "big.html", max_polygons=3
    )  # as if there were thousands
    browser.get(summary.path.as_uri())
    info = WebDriverWait(browser, 20).until(lambda d: d.execute_script("return window.ASM_REPORT"))
    assert info["simplified"] is True
    browser.execute_script("window.ASM_MAP.setZoom(10)")
    WebDriverWait(browser, 5).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, "path.asm-detection")
    )
    markers = browser.find_elements(By.CSS_SELECTOR, "path.asm-centroid")
    assert len(markers) == summary.detections
    browser.execute_script("window.ASM_MAP.setZoom(14)")
    WebDriverWait(browser, 5).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "path.asm-detection")) == summary.detections
    )
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
