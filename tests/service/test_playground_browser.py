"""The playground page in a real browser: Debian's headless Chromium, driven by Selenium through
Debian's chromedriver (nothing is downloaded), against `python -m service` on the tiny artifact
with an API key and a small body limit. It types the key and a document, classifies, and checks
the model line, the labels shown against the API's answer, that the highlighted words are words
of the text, and that a service error (401, 413) is shown; it saves a screenshot.

COREBERT_PLAYGROUND_ARTIFACT serves another artifact instead (the default model, for the README's
screenshot) and COREBERT_PLAYGROUND_SCREENSHOT copies the screenshot to that path.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks import harness

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
API_KEY = "playground-key"
TEXT = (
    "Shares in the bank rose sharply after it raised its profit forecast for the year, and "
    "the company said sales growth in the economy would lift its market price."
)

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="needs Debian's chromium and chromium-driver packages (scripts/test.sh installs "
        "them when run as root)",
    ),
]
webdriver = pytest.importorskip("selenium.webdriver")


@pytest.fixture(scope="module")
def served(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    artifact = Path(os.environ.get("COREBERT_PLAYGROUND_ARTIFACT") or tiny_artifact)
    log = tmp_path_factory.mktemp("playground") / "service.log"
    with harness.service(
        artifact, log, startup_timeout_s=90, api_key=API_KEY, max_body_bytes=4096
    ) as service:
        yield service.url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1000,1100")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, condition, timeout_s: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s).until(condition)


def element(driver, element_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def test_the_page_classifies_and_highlights_the_core_words(served, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(f"{served}/")
    error = element(browser, "error")
    wait_for(browser, lambda _: error.is_displayed())
    assert error.text.startswith("401 unauthorized")  # the service's message, shown
    element(browser, "api-key").send_keys(API_KEY)
    element(browser, "document").click()  # the key field's change event loads the model
    expected = httpx.post(
        f"{served}/classify",
        json={"documents": [TEXT], "top_k": 5, "explain": True},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    ).json()["results"][0]
    model = httpx.get(f"{served}/v1/model", headers={"X-API-Key": API_KEY}, timeout=30).json()
    wait_for(browser, lambda _: model["name"] in element(browser, "model").text)
    assert model["variant"] in element(browser, "model").text

    element(browser, "document").send_keys(TEXT)
    element(browser, "classify").click()
    wait_for(browser, lambda _: element(browser, "result").is_displayed())
    assert not element(browser, "error").is_displayed()
    shown = [
        item.text.split("\n")[0] for item in browser.find_elements(By.CSS_SELECTOR, "#labels li")
    ]
    assert shown == [label["label"] for label in expected["labels"]]
    marks = browser.find_elements(By.CSS_SELECTOR, "#highlighted mark.core")
    assert len(marks) == len(expected["core"]) >= 1
    words = {(word["start"], word["text"]) for word in expected["core"]}
    for mark in marks:
        assert mark.text in TEXT and mark.text.strip()
        assert any(text == mark.text for _, text in words)
        assert "kept" in mark.get_attribute("title") and "group" in mark.get_attribute("title")
    assert element(browser, "highlighted").text.split() == TEXT.split()

    screenshot = tmp_path / "playground.png"
    browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("COREBERT_PLAYGROUND_SCREENSHOT"):
        shutil.copyfile(screenshot, os.environ["COREBERT_PLAYGROUND_SCREENSHOT"])


def test_the_page_shows_the_services_error(served, browser):
    browser.get(f"{served}/")
    element(browser, "api-key").send_keys(API_KEY)
    browser.execute_script(
        "document.getElementById('document').value = arguments[0]", "word " * 2000
    )
    element(browser, "classify").click()
    error = element(browser, "error")
    wait_for(browser, lambda _: error.is_displayed())
    assert error.text.startswith("413 payload_too_large")
