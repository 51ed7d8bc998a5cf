"""The search page in a real headless Chromium (Debian's chromium + chromedriver, driven by Selenium):
type a query, see thumbnails and footprints over the Natural Earth basemap, filter by a land-cover facet, open a
tile, close it with Escape, draw a box on the map, and use it on a narrow screen. Screenshots go to the test's
folder (and to $RSQ_SCREENSHOTS if set), and their pixels are checked."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from rsq.query import Searcher
from rsq.serve.app import LEAFLET, create_app

from serving import FLOOD, live_server

pytestmark = pytest.mark.browser
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
)


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed (`make test` installs them with apt-get when it "
            "can)"
        )
    if not LEAFLET.is_dir():
        pytest.skip("Leaflet is not installed (`make install` runs npm ci in rsq/serve/web)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def wait_for(condition, seconds: float = 20.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("the page did not get there in time")


def test_search_look_open_and_filter_by_a_box_drawn_on_the_map(browser, serving_index, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def cards() -> list:
        return browser.find_elements(By.CSS_SELECTOR, ".card")

    def shot(name: str) -> None:
        path = tmp_path / f"{name}.png"
        browser.save_screenshot(str(path))
        if os.environ.get("RSQ_SCREENSHOTS"):
            Path(os.environ["RSQ_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(os.environ["RSQ_SCREENSHOTS"]) / path.name)

    with live_server(create_app(Searcher(serving_index))) as url:
        browser.get(url)
        wait_for(lambda: "tiles indexed" in browser.find_element(By.ID, "status").text)
        query = browser.find_element(By.ID, "q")
        query.send_keys("flooded farmland", Keys.ENTER)
        wait_for(lambda: len(cards()) >= 10)
        assert {card.get_attribute("data-id") for card in cards()[:2]} == FLOOD
        wait_for(
            lambda: browser.execute_script(
                "return [...document.querySelectorAll('.card img')].slice(0, 6).every(i => i.complete && "
                "i.naturalWidth > 0)"
            )
        )
        assert "mark" in cards()[0].get_attribute("innerHTML") and "ranks per mode" in cards()[0].get_attribute("title")
        assert len(browser.find_elements(By.CSS_SELECTOR, ".leaflet-overlay-pane path")) >= 2  # the two footprints
        wait_for(lambda: browser.find_element(By.ID, "map").get_attribute("data-outlines") == "drawn")
        titles = {card.get_attribute("data-id"): card.find_element(By.CSS_SELECTOR, ".facts").text for card in cards()}
        assert "Sentinel-1" in titles["Spain_7370579_S1Hand"] and "Sentinel-2" in titles["Spain_7370579_S2Hand"]
        assert "no footprint" in titles[cards()[2].get_attribute("data-id")]  # UCM tiles have no place
        assert "without a footprint" in browser.find_element(By.ID, "status").text
        assert browser.execute_script(  # the score never touches the id
            "return [...document.querySelectorAll('.card .head')].every(h => h.querySelector('.id')"
            ".getBoundingClientRect().right + 4 <= h.querySelector('.score').getBoundingClientRect().left)"
        )
        shot("1-results")
        map_pixels = crop(tmp_path / "1-results.png", browser.find_element(By.ID, "map"))
        assert colour_share(map_pixels, LAND) > 0.5  # zoomed to the flood chips: Spain's land, under the footprints

        facets = browser.find_element(By.ID, "facets")
        water = facets.find_element(By.CSS_SELECTOR, "button[data-code='5']")
        assert water.text.split()[-1] == "2" and "Water bodies" in water.text
        artificial = facets.find_element(By.CSS_SELECTOR, "button[data-code='1']")
        expected = int(artificial.text.split()[-1])
        artificial.click()
        pressed = "return document.querySelector(\"#facets button[data-code='1']\")?.getAttribute('aria-pressed')"
        wait_for(lambda: browser.execute_script(pressed) == "true")  # the tree is drawn anew with each answer
        classes = browser.execute_script("return [...document.querySelectorAll('.card')].map(c => c.dataset.landCover)")
        assert all(c.startswith("Artificial surfaces") for c in classes)
        assert len(classes) == 24 >= expected  # the filter fetches a full page of that class
        shot("1b-class")
        browser.find_element(By.ID, "clear-class").click()
        wait_for(
            lambda: browser.execute_script(
                "return [...document.querySelectorAll('.card')].some(c => c.dataset.id.startsWith('Spain_'))"
            )
        )

        cards()[0].click()
        dialog = browser.find_element(By.ID, "detail")
        wait_for(lambda: dialog.get_attribute("open") is not None and "land cover" in dialog.text)
        assert "labels@" in dialog.text and "More like this" in dialog.text
        assert "Water bodies › Inland waters" in dialog.text and "0%" not in dialog.text  # labels have no shares
        assert "λ text weight" in dialog.text and dialog.find_element(By.TAG_NAME, "output").text == "0.5"
        wait_for(lambda: browser.execute_script("return document.querySelector('#detail img')?.naturalWidth > 0"))
        shot("2-tile")
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
        wait_for(lambda: dialog.get_attribute("open") is None)

        map_box = browser.find_element(By.ID, "map")
        browser.find_element(By.ID, "draw").click()
        width, height = map_box.size["width"], map_box.size["height"]
        ActionChains(browser).move_to_element_with_offset(
            map_box, -width // 2 + 30, -height // 2 + 30
        ).click_and_hold().move_by_offset(width - 60, height - 60).release().perform()
        wait_for(lambda: "box" in browser.find_element(By.ID, "box-label").text and len(cards()) == 2)
        assert {card.get_attribute("data-id") for card in cards()} == FLOOD
        shot("3-box")

        browser.set_window_size(420, 900)
        time.sleep(0.5)
        results, side = browser.find_element(By.ID, "results"), browser.find_element(By.ID, "side")
        assert side.location["y"] > results.location["y"] and side.size["width"] <= 420
        assert results.size["width"] >= 380 and len({c.location["x"] for c in cards()}) == 2  # two columns, full width
        shot("4-narrow")
        narrow = crop(tmp_path / "4-narrow.png", results)
        right_half = narrow.crop((narrow.width // 2, 0, narrow.width, narrow.height))
        assert colour_share(right_half, (244, 245, 247)) < 0.5  # the right half holds cards, not the background

        browser.set_window_size(1400, 900)
        browser.execute_script("state.map.setView([30, 0], 2, { animate: false })")
        time.sleep(1.0)
        shot("5-world")
        world = crop(tmp_path / "5-world.png", browser.find_element(By.ID, "map"))
        assert colour_share(world, LAND) > 0.1 and colour_share(world, SEA) > 0.2  # continents over the sea
        assert colour_share(world, COAST, tolerance=30) > 0.002  # and their coastlines drawn


LAND, SEA, COAST = (251, 250, 245), (207, 224, 239), (125, 138, 153)  # app.js / app.css: land, sea, coastline


def crop(screenshot: Path, node):
    """The part of a screenshot an element covers (Chromium's screenshots are at device pixel ratio 1 here)."""
    from PIL import Image

    image = Image.open(screenshot).convert("RGB")
    x, y, w, h = node.location["x"], node.location["y"], node.size["width"], node.size["height"]
    return image.crop((x, y, min(image.width, x + w), min(image.height, y + h)))


def colour_share(image, colour: tuple[int, int, int], tolerance: int = 6) -> float:
    """The share of an image's pixels within `tolerance` of `colour` on every channel."""
    import numpy as np

    pixels = np.asarray(image, dtype=np.int16).reshape(-1, 3)
    return float(np.all(np.abs(pixels - np.array(colour)) <= tolerance, axis=1).mean())
