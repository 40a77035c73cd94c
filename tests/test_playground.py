"""The playground page of genrt serve, in a real headless Chromium (Debian's package, driven by Playwright).

Playwright over Selenium: it reports console messages, page errors and every request
the page makes (the same-origin check), waits on the page's state without sleeps,
and drives Debian's chromium through `executable_path` with no driver binary to match.
The page's pictures are compared with the API's bytes and with genrt sample's.
"""

import io
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from genrt.runtime import default_model_path
from onnx_models import build_generator
from serving import GatedGenerator, get, in_process_server, running_server

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        if shutil.which("apt-get"):
            pytest.fail("chromium is missing: the README's set-up command installs it (apt-get install -y chromium)")
        pytest.skip("no chromium and no apt-get to install it: the browser tests need Debian's chromium package")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing: pip install -e '.[dev]'")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server():
    with running_server() as started:
        yield started


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.errors, page.requests = [], []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: page.requests.append(r.url))
    yield page
    context.close()


def grid_loaded(page, src_before=None):
    """Wait until #grid shows a picture (another one than `src_before`); its src."""
    page.wait_for_function("b => { const g = document.getElementById('grid');"
                           " return g.complete && g.naturalWidth > 0 && g.getAttribute('src') !== b; }",
                           arg=src_before, timeout=30_000)
    return page.get_attribute("#grid", "src")


def shown_pixels(page, selector):
    """The pixels the page shows in an <img> or <canvas>, as the browser decoded them (RGBA, H x W x 4)."""
    data = page.evaluate("""sel => { const e = document.querySelector(sel);
        const w = e.naturalWidth || e.width, h = e.naturalHeight || e.height;
        const c = document.createElement('canvas'); c.width = w; c.height = h;
        const x = c.getContext('2d'); x.drawImage(e, 0, 0);
        return [w, h, Array.from(x.getImageData(0, 0, w, h).data)]; }""", selector)
    w, h, values = data
    return np.array(values, dtype=np.uint8).reshape(h, w, 4)


def set_value(page, selector, value, event="change"):
    page.eval_on_selector(selector, "(e, v) => { e.value = v; e.dispatchEvent(new Event(arguments[2] || 'change')); }"
                          .replace("arguments[2] || 'change'", repr(event)), str(value))


def genrt_sample(tmp_path, *args):
    out = tmp_path / f"cli{len(list(tmp_path.iterdir()))}.npy"
    subprocess.run([sys.executable, "-m", "genrt.cli", "sample", "--device", "cpu", *map(str, args), "-o", str(out)],
                   check=True, capture_output=True)
    return np.load(out)


def test_the_page_loads_with_no_console_error_and_no_request_off_its_origin(server, page, tmp_path):
    base, _, _ = server
    page.goto(f"{base}/")
    grid_loaded(page)
    page.wait_for_function("() => document.getElementById('facts').textContent.includes('p50')", timeout=30_000)
    facts = page.text_content("#facts")
    assert "cgan" in facts and "28×28×1" in facts and "10 classes" in facts and "CPUExecutionProvider" in facts
    assert page.errors == []
    assert page.requests and all(url.startswith(base + "/") or url.startswith("data:") for url in page.requests), \
        page.requests
    assert page.is_hidden("#model-field") and page.is_visible("#label")
    for control in ("model", "seed", "count", "label", "truncation", "interp-a", "interp-b", "frame"):
        assert page.locator(f"label[for={control}]").count() == 1, control
    shot = tmp_path / "playground.png"
    page.screenshot(path=str(shot), full_page=True)
    assert Image.open(shot).size[0] == 1100
    if os.environ.get("GENRT_PLAYGROUND_SCREENSHOT"):  # python -m pytest ... to refresh docs/playground.png
        shutil.copyfile(shot, os.environ["GENRT_PLAYGROUND_SCREENSHOT"])


def test_the_grid_is_the_apis_bytes_and_genrt_samples_images(server, page, tmp_path):
    base, _, _ = server
    page.goto(f"{base}/")
    before = grid_loaded(page)
    page.fill("#count", "6")
    page.fill("#seed", "5")
    page.select_option("#label", "3")
    set_value(page, "#truncation", "0.5")
    src = grid_loaded(page, before)
    assert src == "/v1/sample.png?n=6&seed=5&label=3&truncation=0.5"
    status, _, api = get(f"{base}{src}")
    assert status == 200
    expected = genrt_sample(tmp_path, "-n", 6, "--seed", 5, "--label", 3, "--truncation", 0.5)
    from genrt.ext import make_grid
    grid = make_grid(expected, nrow=8)[..., 0]
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(api))), grid)
    shown = shown_pixels(page, "#grid")
    np.testing.assert_array_equal(shown[..., 0], grid)  # what the page shows is exactly that picture
    assert page.get_attribute("#download", "href") == src


def test_every_control_changes_the_grid(page, tmp_path):
    small = build_generator(tmp_path / "small.onnx", image_shape=(3, 6, 6))
    with running_server("--model", f"digits={default_model_path()}", "--model", f"small={small}") as (base, _, _):
        page.goto(f"{base}/")
        src = grid_loaded(page)
        seen = [shown_pixels(page, "#grid").tobytes()]
        for change in (lambda: page.fill("#seed", "9"), lambda: page.fill("#count", "10"),
                       lambda: page.select_option("#label", "4"), lambda: set_value(page, "#truncation", "0.3"),
                       lambda: page.select_option("#model", "small")):
            page.locator("#seed").focus()
            change()
            page.keyboard.press("Tab")  # commits a filled number input
            src = grid_loaded(page, src)
            seen.append(shown_pixels(page, "#grid").tobytes())
        assert len(set(seen)) == len(seen)
        assert src.startswith("/v1/models/small/sample.png?") and page.is_hidden("#label-field")
        assert page.is_visible("#model")


def test_the_frame_slider_shows_genrt_sample_interpolate_without_new_requests(server, page, tmp_path):
    base, _, _ = server
    page.goto(f"{base}/")
    grid_loaded(page)
    page.select_option("#label", "2")
    page.fill("#interp-a", "3")
    page.fill("#interp-b", "7")
    page.keyboard.press("Tab")
    page.wait_for_function("() => performance.getEntriesByType('resource').some(e => e.name.includes('a=3&b=7'))",
                           timeout=30_000)
    frames = genrt_sample(tmp_path, "--interpolate", 16, "--seed", 3, "--to", 7, "--label", 2)
    page.wait_for_function("() => document.getElementById('frame-view').width === 28", timeout=30_000)
    asked = len(page.requests)
    page.locator("#frame").focus()
    for frame in (0, 1, 2, 9, 15):
        set_value(page, "#frame", frame, event="input")
        np.testing.assert_array_equal(shown_pixels(page, "#frame-view")[..., 0], frames[frame][..., 0])
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")  # the slider takes the keyboard: frame 2 of 16
    assert page.text_content("#frame-value") == "2 of 16"
    np.testing.assert_array_equal(shown_pixels(page, "#frame-view")[..., 0], frames[1][..., 0])
    assert len(page.requests) == asked  # scrubbing fetched nothing


def test_the_state_survives_a_reload(server, page):
    base, _, _ = server
    page.goto(f"{base}/")
    before = grid_loaded(page)
    page.fill("#seed", "11")
    page.fill("#count", "4")
    page.select_option("#label", "5")
    set_value(page, "#truncation", "0.8")
    page.fill("#interp-b", "12")
    page.keyboard.press("Tab")
    src = grid_loaded(page, before)
    set_value(page, "#frame", 6, event="input")
    shared = page.get_attribute("#share", "href")
    page.reload()
    assert grid_loaded(page) == src
    values = {c: page.input_value(f"#{c}") for c in ("seed", "count", "label", "truncation", "interp-b", "frame")}
    assert values == {"seed": "11", "count": "4", "label": "5", "truncation": "0.8", "interp-b": "12", "frame": "6"}
    assert page.url.endswith(shared)


def test_a_busy_server_shows_its_message_and_the_page_retries(page):
    from genrt.serve.app import ServeConfig

    g = GatedGenerator(default_model_path(), device="cpu")
    with in_process_server({"digits": g}, ServeConfig(max_batch=160, max_delay_ms=0, max_queue=160,
                                                     max_images=160)) as base:
        page.goto(f"{base}/")
        before = grid_loaded(page)
        g.armed = True
        holders = [threading.Thread(target=get, args=(f"{base}/v1/sample.png?n=160&seed={s}",)) for s in (1, 2)]
        holders[0].start()
        assert g.entered.wait(30)  # one request holds the worker; the next fills the queue
        holders[1].start()
        while 'genrt_queue_images{model="digits"} 160' not in get(f"{base}/metrics")[2].decode():
            time.sleep(0.05)
        page.fill("#seed", "21")
        page.keyboard.press("Tab")
        page.wait_for_function("() => document.getElementById('status').textContent.includes('busy')", timeout=30_000)
        assert "retrying in 1 s" in page.text_content("#status")
        g.armed = False
        g.gate.set()
        assert grid_loaded(page, before) == "/v1/sample.png?n=16&seed=21&label=all&truncation=1"
        page.wait_for_function("() => document.getElementById('status').textContent === ''", timeout=30_000)
        page.fill("#count", "5000")  # past --max-images: the server's own words
        page.keyboard.press("Tab")
        page.wait_for_function("() => document.getElementById('status').textContent.includes('refused')", timeout=30_000)
        assert "n must be an integer from 1 to 160, got 5000" in page.text_content("#status")
        for holder in holders:
            holder.join(30)
