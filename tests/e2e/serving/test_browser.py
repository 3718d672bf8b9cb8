"""The UI in headless Chromium: type a title, pick it, see the 10 most similar movies.

Needs Debian's chromium and chromium-driver (scripts/install-system-tools.sh): the test
fails, not skips, without them. It saves a screenshot in its temporary directory, or where
RECSYS_UI_SCREENSHOT says; with RECSYS_UI_MODELS_DIR and RECSYS_UI_DATA_DIR it runs against
real models. scripts/ui-screenshot.sh sets all three to make docs/img/ui.png.
"""

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.fixtures.browser import browser as open_browser

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(request):
    import uvicorn

    from recsys.serving.app import build_app

    if "RECSYS_UI_MODELS_DIR" in os.environ:
        models, data = os.environ["RECSYS_UI_MODELS_DIR"], os.environ["RECSYS_UI_DATA_DIR"]
    else:  # the tiny pipeline run, only when needed
        data_dir, output = request.getfixturevalue("run_output")
        models, data = str(output / "models"), str(data_dir)
    app = build_app(models, data, start_polling=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    while not instance.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    instance.should_exit = True
    thread.join(timeout=10)


def test_search_a_title_and_see_similar_movies(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    real = "RECSYS_UI_MODELS_DIR" in os.environ
    screenshot = Path(os.environ.get("RECSYS_UI_SCREENSHOT") or tmp_path / "ui.png")
    typed, expected = ("usual susp", "The Usual Suspects") if real else ("café n°12", "Café N°12")
    browser = open_browser()
    try:
        browser.get(server)
        wait = WebDriverWait(browser, 20)
        box = browser.find_element(By.ID, "title-input")
        box.send_keys(typed)
        first = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#suggestions li")))
        assert first.text.startswith(expected)
        first.click()  # mousedown picks it
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#similar-chart .similar-item"))
                   == 10)
        heading = browser.find_element(By.ID, "similar-heading").text
        assert f"Most similar to {expected}" in heading
        items = browser.find_elements(By.CSS_SELECTOR, "#similar-chart .similar-item")
        titles = [item.find_element(By.TAG_NAME, "text").text for item in items]
        assert all(titles) and expected not in titles
        assert len(browser.find_elements(By.CSS_SELECTOR, "#similar-chart rect.bar")) == 10
        user = browser.find_element(By.ID, "user-input")
        user.send_keys("1\n")
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#user-recs .rec")) == 10)
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#explain-chart .contribution"))
        assert browser.find_elements(By.CSS_SELECTOR, "#user-history li")
        assert browser.find_element(By.ID, "error").text == ""
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(screenshot))
    finally:
        browser.quit()
    assert screenshot.stat().st_size > 10_000
