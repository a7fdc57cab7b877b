"""`eventcnn class` in a real headless Chromium (Playwright driving Debian's ``chromium``).

Every request that does not go to the class server is blocked and recorded: the
pages must work offline (no CDN, no font or analytics request).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="eventcnn class needs the 'class' extra (FastAPI)")
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need `pip install playwright`")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and Path("/usr/bin/chromium").exists():
    CHROMIUM = "/usr/bin/chromium"
if CHROMIUM is None:
    pytest.skip("browser tests need Chromium (Debian: apt-get install chromium; .ci/run installs it)",
                allow_module_level=True)

from eventcnn.opal.web.app import BackgroundServer, create_app  # noqa: E402
from eventcnn.opal.web.session import open_session  # noqa: E402

pytestmark = pytest.mark.slow
TABLET = {"width": 820, "height": 1180}
PHONE = {"width": 390, "height": 844}


@pytest.fixture()
def live(tmp_path: Path, class_displays):
    zip_path, truth = class_displays
    session = open_session(zip_path, tmp_path / "class.sqlite", n=16, per_student=4, overlap=2, size=64,
                           out=tmp_path / "run", quiet=True, epochs=1)
    with BackgroundServer(create_app(session, "http://127.0.0.1/")) as server:
        yield session, server.url, truth


@pytest.fixture()
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


def _offline_page(browser, origin: str, blocked: list[str], **context):
    ctx = browser.new_context(**context)
    page = ctx.new_page()

    def guard(route, request) -> None:
        if request.url.startswith(origin):
            route.continue_()
        else:
            blocked.append(request.url)
            route.abort()

    page.route("**/*", guard)
    return page


def _wait_image(page, selector: str) -> None:
    page.wait_for_function("(sel) => { const i = document.querySelector(sel); "
                           "return !!i && i.complete && i.naturalWidth > 0; }", arg=selector, timeout=20000)


def test_student_labels_with_taps_keys_and_skip(live, browser) -> None:
    session, url, truth = live
    blocked: list[str] = []
    page = _offline_page(browser, url, blocked, viewport=TABLET, has_touch=True)
    page.goto(url)
    page.fill("#name", "Ada")
    page.click("text=Start")
    counter = page.locator("#counter")
    sync_api.expect(counter).to_have_text("event 1 of 4")
    _wait_image(page, "#display")
    assert "hadronic" in page.inner_text("#hint-list")  # the hint card of the console labeller
    words = [b.inner_text().split("\n")[0] for b in page.locator(".choice").all()]
    assert words == ["hadrons", "electrons", "muons", "taus"]
    for b in page.locator("#label button.big").all():
        assert b.bounding_box()["height"] >= 56  # large touch targets
    page.dblclick("button[data-label=q]")  # a double tap counts once
    sync_api.expect(counter).to_have_text("event 2 of 4")
    page.keyboard.press("e")
    sync_api.expect(counter).to_have_text("event 3 of 4")
    page.keyboard.press("s")  # not sure: skip
    sync_api.expect(counter).to_have_text("event 4 of 4")
    page.tap("button[data-label=t]")
    sync_api.expect(page.locator("#done")).to_be_visible()
    votes = session.store.votes()
    assert [v["label"] for v in votes] == ["q", "e", "skip", "t"]
    page.reload()  # the student is remembered: still done, nothing asked again
    sync_api.expect(page.locator("#done")).to_be_visible()
    html = page.content()
    assert not any(name in html for name in truth)
    assert blocked == []


def test_student_page_fits_a_phone(live, browser) -> None:
    session, url, _ = live
    blocked: list[str] = []
    page = _offline_page(browser, url, blocked, viewport=PHONE, has_touch=True, is_mobile=True)
    page.goto(url)
    page.fill("#name", "Bo")
    page.click("text=Start")
    _wait_image(page, "#display")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]  # no sideways scrolling
    for sel in ("button[data-label=q]", "button[data-label=t]", "button[data-label=skip]"):
        box = page.locator(sel).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] and box["height"] >= 48
    assert blocked == []


def test_teacher_sees_progress_and_trains(live, browser) -> None:
    session, url, truth = live
    store = session.store
    for i in range(8):  # a class of eight labels everything twice (through the store: the API is tested elsewhere)
        sid = session.join(f"student {i}")
        while (nd := store.next_display(sid))["display"] is not None:
            store.vote(sid, nd["display"], truth[store.display_name(nd["display"])], f"{sid}-{nd['index']}x")
    blocked: list[str] = []
    page = _offline_page(browser, url, blocked, viewport={"width": 1280, "height": 900})
    assert page.goto(url + "teacher").status == 401
    page.goto(url + "teacher?token=" + store.teacher_token)
    sync_api.expect(page.locator("#students tbody tr")).to_have_count(8)
    _wait_image(page, "#qr")
    assert "32 of 32 answers" in page.inner_text("#overall")
    assert "agree (100 %)" in page.inner_text("#agreement")
    page.click("#train")
    sync_api.expect(page.locator("#results")).to_be_visible(timeout=240000)
    for key in ("overview", "confusion", "unsure", "occlusion", "curves"):
        _wait_image(page, f"#fig-{key}")
    assert "Trained on 16 class labels" in page.inner_text("#train-summary")
    assert blocked == []
