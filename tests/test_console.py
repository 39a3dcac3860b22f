"""The web console in a real headless Chromium (Debian's chromium + chromedriver, driven by Selenium): the key
prompt, create a store, upload files and watch them complete or fail, search, chunks, delete; a screenshot of
each page goes to test-output/console/ (or $VECTORHOUSE_TEST_OUTPUT) for review."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import Server, start_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
OUTPUT = Path(os.environ.get("VECTORHOUSE_TEST_OUTPUT", Path(__file__).resolve().parent.parent / "test-output"))


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # both from Debian: no download
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("console") / "data")
    yield server
    server.stop()


def shot(driver: WebDriver, name: str) -> None:
    folder = OUTPUT / "console"
    folder.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(folder / f"{name}.png"))


def wait(driver: WebDriver, condition: object, timeout: float = 120) -> object:
    """Until `condition` holds; the page re-renders tables as statuses change, so stale elements just retry."""
    return WebDriverWait(driver, timeout, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException,)).until(condition)  # type: ignore[arg-type]


def text(driver: WebDriver, css: str) -> str:
    return " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, css))


def test_console_upload_watch_search_delete(browser: WebDriver, site: Server, tmp_path: Path) -> None:
    key = site.new_key("web")  # keys on: the console must ask for one, and act in its project
    browser.get(site.base_url + "/")
    wait(browser, lambda d: d.find_element(By.ID, "key-dialog").get_attribute("open") is not None)
    shot(browser, "1-key")
    browser.find_element(By.ID, "key-input").send_keys(key)
    browser.find_element(By.ID, "key-save").click()
    wait(browser, lambda d: "no stores yet" in text(d, "#stores"))
    browser.find_element(By.ID, "new-store-name").send_keys("kb")
    browser.find_element(By.CSS_SELECTOR, "#new-store button").click()
    wait(browser, lambda d: "#/store/vs_" in d.current_url and d.find_elements(By.ID, "file-input"))
    store_id = browser.current_url.rsplit("/", 1)[-1]

    files = {"otters.txt": "Sea otters hold hands while they sleep so they do not drift apart.",
             "bread.txt": "Sourdough bread rises slowly because wild yeast ferments the flour.",
             "empty.txt": ""}
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    browser.find_element(By.ID, "file-input").send_keys("\n".join(str(tmp_path / name) for name in files))

    def states(d: WebDriver) -> dict[str, str]:
        return {row.get_attribute("data-name"): row.find_element(By.CSS_SELECTOR, ".state").text
                for row in d.find_elements(By.CSS_SELECTOR, "#uploads tr")}

    def settled(d: WebDriver) -> bool:
        found = states(d)
        return len(found) == 3 and all(s.startswith(("completed", "failed")) for s in found.values())

    wait(browser, settled)
    final = states(browser)
    assert final["otters.txt"] == final["bread.txt"] == "completed"
    assert final["empty.txt"].startswith("failed") and "empty" in final["empty.txt"]  # with its last_error
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#files tr[data-file]")) == 3)
    shot(browser, "2-store")

    browser.find_element(By.ID, "query").send_keys("otters sleeping")
    browser.find_element(By.CSS_SELECTOR, "#search button").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#results tr.hit"))
    first = browser.find_element(By.CSS_SELECTOR, "#results tr.hit")
    assert first.find_element(By.CSS_SELECTOR, ".filename").text == "otters.txt"
    assert [m.text.lower() for m in first.find_elements(By.CSS_SELECTOR, "mark")][:1] == ["otters"]
    shot(browser, "3-search")

    def click_in_row(name: str, button: str) -> bool:
        for row in browser.find_elements(By.CSS_SELECTOR, "#files tr[data-file]"):
            if name in row.text:
                row.find_element(By.CSS_SELECTOR, button).click()
                return True
        return False

    wait(browser, lambda d: click_in_row("otters.txt", ".chunks-of"))
    wait(browser, lambda d: "Sea otters hold hands" in text(d, "#chunks") and '"start"' in text(d, "#chunks"))
    wait(browser, lambda d: click_in_row("empty.txt", ".detach"))
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#files tr[data-file]")) == 2)

    browser.get(site.base_url + "/#/")
    wait(browser, lambda d: store_id in text(d, "#stores") and "2/2" in text(d, "#stores"))
    shot(browser, "4-stores")
    # The console acted in the key's project through the public API.
    client = OpenAI(base_url=site.api, api_key=key, max_retries=0)
    assert [s.id for s in client.vector_stores.list()] == [store_id]
    browser.find_element(By.CSS_SELECTOR, f'.delete-store[data-id="{store_id}"]').click()
    wait(browser, lambda d: "no stores yet" in text(d, "#stores"))
    assert list(client.vector_stores.list()) == []
    assert sorted(p.name for p in (OUTPUT / "console").glob("*.png")) >= ["1-key.png", "2-store.png", "3-search.png",
                                                                            "4-stores.png"]
