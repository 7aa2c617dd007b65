"""s2s app in a real browser: headless Chromium (Debian's) loads the page, types a sentence, and gets
the translation and its heatmap; the screenshot is checked. Loopback only."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from s2s.checkpoint import load_checkpoint
from s2s.serving.attention_view import cross_attention_view, text_side
from s2s.serving.head_report import HeadReport
from tests.reliability.helpers import cli_env
from tests.serving.conftest import free_port

pytest.importorskip("gradio", reason="s2s app needs the app extra: pip install -e '.[app]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test drives Chromium with selenium")

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
REPORT = Path(__file__).resolve().parents[2] / "docs" / "example-report"
SENTENCE = "A man in a blue shirt is riding a bicycle."


def test_heatmap_view_and_head_report_without_a_browser(text_checkpoint, tmp_path, one_thread):
    loaded = load_checkpoint(text_checkpoint)
    side = text_side(loaded, beam=2)
    view = cross_attention_view(side, SENTENCE, layer=2, folder=tmp_path)
    assert view.translation == next(side.translator.translate([SENTENCE])).text
    assert view.heatmap.is_file() and view.heatmap.read_bytes()[:4] == b"\x89PNG"
    assert cross_attention_view(side, SENTENCE, layer=1, head="3", folder=tmp_path).heatmap.name == "cross-L1-H3.png"
    report = HeadReport(REPORT)
    text, pictures = report.show(report.choices()[0])
    assert text.startswith("### ") and pictures and all(Path(p).is_file() for p, _ in pictures)


@pytest.fixture(scope="module")
def app_url(text_checkpoint, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "s2s.cli.main",
            "app",
            str(text_checkpoint),
            "--port",
            str(port),
            "--beam",
            "2",
            "--report",
            str(REPORT),
        ],
        env=cli_env(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Debian's chromium and chromium-driver are not installed (make system-packages)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1600",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def wait_for(condition, timeout: float = 120, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_translate_in_the_browser_shows_translation_and_heatmap(app_url, browser, text_checkpoint, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By

    expected = next(text_side(load_checkpoint(text_checkpoint), beam=2).translator.translate([SENTENCE])).text
    browser.get(app_url)
    source = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#source textarea"), what="the sentence box")[0]
    source.send_keys(SENTENCE)
    browser.find_element(By.CSS_SELECTOR, "#translate").click()
    output = browser.find_element(By.CSS_SELECTOR, "#translation textarea")
    wait_for(lambda: output.get_attribute("value"), what="the translation")
    assert output.get_attribute("value") == expected
    image = wait_for(
        lambda: [
            i
            for i in browser.find_elements(By.CSS_SELECTOR, "#heatmap img")
            if browser.execute_script("return arguments[0].naturalWidth", i) > 0
        ],
        what="the heatmap",
    )[0]
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("L")
    (tmp_path / "page.png").write_bytes(browser.get_screenshot_as_png())
    pixels = np.asarray(shot, dtype=np.float32)
    assert shot.size[0] >= 1000 and pixels.std() > 10  # a page with content, not a blank or one-colour frame
    heatmap = np.asarray(Image.open(io.BytesIO(image.screenshot_as_png)).convert("L"), dtype=np.float32)
    assert heatmap.shape[0] > 50 and heatmap.std() > 10  # the heatmap is drawn, not an empty box
    box = np.asarray(Image.open(io.BytesIO(output.screenshot_as_png)).convert("L"), dtype=np.float32)
    assert box.std() > 5  # the translation's text is drawn in its box


def test_a_speech_model_gets_the_transcribe_tab(speech_checkpoint):
    from s2s.serving.app import build_app

    app = build_app(str(speech_checkpoint), load_checkpoint(speech_checkpoint), beam=1, report=HeadReport(REPORT))
    ids = {c.get("props", {}).get("elem_id") for c in app.config["components"]}
    labels = {c.get("props", {}).get("label") for c in app.config["components"]}
    assert {"transcribe", "transcript", "head-choice"} <= ids and "translate" not in ids
    assert "Audio file or recording" in labels
