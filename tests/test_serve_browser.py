"""End to end in a real browser: a uvicorn server started here, Debian's headless Chromium
driven by Playwright, a digit drawn on the page's canvas, a prediction and its bars seen."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from test_serve_models import fit_digit_model, fit_iris_model, iris_frame

from softmaxreg.serve import serve_in_background

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright not installed: pip install playwright"
)


expect = sync_api.expect


def wait_until(page, function: str, timeout: float = 15.0) -> None:
    """Poll ``function`` in the page until it returns true (the page's CSP forbids eval, so
    Playwright's wait_for_function cannot be used)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(function):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {function}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1180, "height": 760},
        )
        try:
            yield context
        finally:
            context.close()


def screenshot(page, tmp_path: Path, name: str) -> Path:
    """Save a screenshot (also to $SOFTMAXREG_SERVE_SCREENSHOTS when set, to look at)."""
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    folder = os.environ.get("SOFTMAXREG_SERVE_SCREENSHOTS")
    if folder:
        shutil.copy(path, Path(folder) / name)
    return path


def stroke(page, box, points):
    """Drag the mouse through ``points`` given as fractions of the canvas."""
    x0, y0 = box["x"], box["y"]
    w, h = box["width"], box["height"]
    page.mouse.move(x0 + points[0][0] * w, y0 + points[0][1] * h)
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(x0 + fx * w, y0 + fy * h, steps=12)
    page.mouse.up()


def bar_values(page) -> list[float]:
    """The drawn length of each probability bar, in percent of its track."""
    return page.eval_on_selector_all(
        "#bars .bar",
        "rows => rows.map(r => 100 * r.querySelector('.fill').getBoundingClientRect().width"
        " / r.querySelector('.track').getBoundingClientRect().width)",
    )


def test_drawing_a_seven_shows_the_prediction_and_bars(browser_context, tmp_path):
    model_path = tmp_path / "model.safetensors"
    fit_digit_model(model_path)
    page = browser_context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    outside = []
    page.on("request", lambda r: outside.append(r.url) if "127.0.0.1" not in r.url else None)
    with serve_in_background(model_path) as url:
        page.goto(url + "/")
        page.wait_for_selector("#draw-section:not(.hidden)")
        wait_until(
            page,
            "() => Array.from(document.querySelectorAll('#templates img'))"
            ".filter(i => i.complete && i.naturalWidth === 112).length === 10",
        )
        box = page.locator("#canvas").bounding_box()
        stroke(page, box, [(0.2, 0.18), (0.8, 0.18)])
        stroke(page, box, [(0.8, 0.18), (0.55, 0.5), (0.38, 0.85)])
        expect(page.locator("#prediction")).to_have_text("7")
        page.wait_for_timeout(600)  # the last debounced answer, the bars' 120 ms transition
        assert page.text_content("#prediction") == "7"
        values = bar_values(page)
        assert len(values) == 10 and abs(sum(values) - 100) < 1.0
        assert int(np.argmax(values)) == 7 and values[7] > 50
        assert page.text_content("#bars .bar.top .name") == "7"
        seen_ink = page.evaluate(
            "Array.from(document.getElementById('seen').getContext('2d')"
            ".getImageData(0, 0, 28, 28).data).filter((v, i) => i % 4 === 0 && v > 0).length"
        )
        assert seen_ink > 20
        shot = screenshot(page, tmp_path, "serve-digit-page.png")
        assert shot.stat().st_size > 10_000

        page.click("#clear")
        assert page.text_content("#prediction") == "\u2013"
        # a finger: pointer events of type "touch"
        page.evaluate(
            """() => {
              const c = document.getElementById('canvas'), r = c.getBoundingClientRect();
              const at = (fx, fy, type) => c.dispatchEvent(new PointerEvent(type, {
                pointerId: 7, pointerType: 'touch', isPrimary: true, bubbles: true,
                clientX: r.left + fx * r.width, clientY: r.top + fy * r.height}));
              at(0.2, 0.18, 'pointerdown');
              for (let k = 1; k <= 20; k++) at(0.2 + 0.6 * k / 20, 0.18, 'pointermove');
              for (let k = 1; k <= 20; k++) at(0.8 - 0.42 * k / 20, 0.18 + 0.67 * k / 20,
                                               'pointermove');
              at(0.38, 0.85, 'pointerup');
            }"""
        )
        expect(page.locator("#prediction")).to_have_text("7")
    assert errors == []
    assert outside == []


def test_tabular_model_gets_a_feature_form(browser_context, tmp_path):
    model_path = tmp_path / "iris.safetensors"
    model = fit_iris_model(model_path)
    X, _ = iris_frame()
    row = X.iloc[120]
    page = browser_context.new_page()
    with serve_in_background(model_path) as url:
        page.goto(url + "/")
        page.wait_for_selector("#form-section:not(.hidden)")
        assert page.is_hidden("#draw-section") and page.is_hidden("#templates-section")
        labels = page.eval_on_selector_all("#features-form input", "xs => xs.map(x => x.name)")
        assert labels == list(X.columns)
        for name, value in row.items():
            page.fill(f"#features-form input[name='{name}']", str(value))
        page.click("#predict-button")
        expected = model.predict(X.iloc[[120]])[0]
        expect(page.locator("#prediction")).to_have_text(expected)
        page.wait_for_timeout(400)  # the bars' 120 ms transition
        values = bar_values(page)
        np.testing.assert_allclose(values, 100 * model.predict_proba(X.iloc[[120]])[0], atol=1)
        screenshot(page, tmp_path, "serve-tabular-page.png")
