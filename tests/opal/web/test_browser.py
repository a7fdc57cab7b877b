"""`eventcnn class` in a real headless Chromium (Playwright driving Debian's ``chromium``).

A whole lesson: students join on a tablet (German) and on a phone (French),
learn from the examples, practise, label with taps and keys, undo a mis-tap,
finish; the teacher opens the address with the token (it becomes a cookie and
leaves the address bar), trains, and the class's result appears on the
students', the board's and the teacher's screens. And 30 students in 30
browser pages at once. Every request that does not go to the class server is
blocked and recorded: the pages work offline (no CDN, no font, no analytics).
"""

from __future__ import annotations

import shutil
import time
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
from eventcnn.opal.web.pages import catalogue  # noqa: E402
from eventcnn.opal.web.session import open_session  # noqa: E402

pytestmark = pytest.mark.slow
TABLET = {"viewport": {"width": 820, "height": 1180}, "device_scale_factor": 1, "has_touch": True}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "has_touch": True, "is_mobile": True}
expect = sync_api.expect


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
    page.on("dialog", lambda dialog: dialog.accept())  # "new student?", "remove?": yes
    page.on("pageerror", lambda exc: blocked.append(f"script error: {exc}"))  # a broken script fails too
    return page


def _crisp(page, selector: str) -> int:
    """The display's whole-number scale (never blurred); fails when it is not a whole number."""
    page.wait_for_function("(sel) => { const i = document.querySelector(sel); "
                           "return !!i && i.complete && i.naturalWidth > 0 && i.dataset.scale; }",
                           arg=selector, timeout=20000)
    box = page.evaluate("(sel) => { const i = document.querySelector(sel); const r = i.getBoundingClientRect(); "
                        "return {w: r.width * devicePixelRatio, n: i.naturalWidth, k: +i.dataset.scale, "
                        "r: getComputedStyle(i).imageRendering}; }", selector)
    assert box["k"] >= 1 and abs(box["w"] - box["k"] * box["n"]) <= 0.05, box  # layout works in 1/64 px
    if box["k"] > 1:
        assert box["r"] == "pixelated", box
    return box["k"]


def _student_lesson(page, url: str, name: str, words: dict[str, str], truth_of, wrong_first: bool) -> None:
    """Join, learn, practise, label every display (one mis-tap undone), reach the end."""
    page.goto(url)
    expect(page.locator("#join-form button")).to_have_text(words["join.start"])
    page.fill("#name", name)
    page.click("#join-form button")
    expect(page.locator("#learn h2")).to_have_text(words["learn.title"])
    expect(page.locator("#layer-key .layer-label")).to_have_count(4)
    assert words["layer.ecal"] in page.inner_text("#layer-key")  # the colour key, in the class's language
    assert page.locator(".example").count() == 4 and page.locator(".example img").count() == 4
    _crisp(page, ".example img")
    page.click("#to-practice")
    for i in range(2):
        expect(page.locator("#practice-counter")).to_have_text(words["practice.counter"].format(i=i + 1, n=2))
        _crisp(page, "#practice-display")
        page.keyboard.press("q")  # a guess: the feedback says whether it was right and what it is
        expect(page.locator("#feedback")).to_be_visible()
        verdict = page.inner_text("#feedback-verdict")
        assert words["practice.right"].split("{")[0] in verdict or words["practice.wrong"].split("{")[0] in verdict
        page.click("#practice-next")
    counter = page.locator("#counter")
    expect(counter).to_have_text(words["label.counter"].format(i=1, n=4))
    assert _crisp(page, "#display") >= 2
    for b in page.locator("#label button.big").all():
        box = b.bounding_box()
        assert box["height"] >= 48 and box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    for k in range(1, 5):
        truth = truth_of(page)
        if k == 2 and wrong_first:  # a mis-tap, then undo (the button), then the right answer
            page.tap(f"button[data-label={'q' if truth != 'q' else 'e'}]")
            expect(counter).to_have_text(words["label.counter"].format(i=3, n=4))
            page.tap("#undo")
            expect(counter).to_have_text(words["label.counter"].format(i=2, n=4))
        if k == 3:
            page.keyboard.press(truth)  # keys work too
        else:
            page.tap(f"button[data-label={truth}]")
        if k < 4:
            expect(counter).to_have_text(words["label.counter"].format(i=k + 1, n=4))
    expect(page.locator("#done-title")).to_have_text(words["done.title"])
    expect(page.locator("#done-text")).to_have_text(words["done.answered"].format(n=4))


@pytest.fixture()
def lesson(tmp_path: Path):
    from conftest import make_class_displays

    zip_path, truth = make_class_displays(tmp_path, n=64)
    ref = tmp_path / "answer_key.csv"
    ref.write_text("".join(f"{k}.png;{v}\n" for k, v in truth.items()))
    session = open_session(zip_path, tmp_path / "class.sqlite", out=tmp_path / "run", reference=ref, n=32,
                           students=16, per_student=4, overlap=2, size=64, epochs=5, examples=1, practice=2,
                           quiet=True)
    with BackgroundServer(create_app(session, "http://127.0.0.1/")) as server:
        yield session, server.url, truth


def test_a_whole_lesson_on_tablet_and_phone_in_two_languages(lesson, browser) -> None:
    session, url, truth = lesson
    store = session.store

    def truth_of(page) -> str:
        did = page.get_attribute("#display", "src").rsplit("/", 1)[1]
        return truth[store.display_name(did)]

    blocked: list[str] = []
    de, fr, en = catalogue("de"), catalogue("fr"), catalogue("en")
    tablet = _offline_page(browser, url, blocked, locale="de-DE", **TABLET)
    phone = _offline_page(browser, url, blocked, locale="fr-FR", **PHONE)
    _student_lesson(tablet, url, "Ada", de, truth_of, wrong_first=True)
    _student_lesson(phone, url, "Bo", fr, truth_of, wrong_first=False)
    votes = store.votes()
    assert len(votes) == 8 and all(truth[v["display"]] == v["label"] for v in votes)  # the undone tap is gone
    for i in range(14):  # the rest of the class labels the other displays (through the store: fast)
        sid = session.join(f"student {i}")
        while (nd := session.next_display(sid))["display"] is not None:
            store.vote(sid, nd["display"], truth[store.display_name(nd["display"])], f"{sid}-{nd['index']}x")
    board = _offline_page(browser, url, blocked, locale="en-GB", viewport={"width": 1366, "height": 768})
    board.goto(url + "board")
    expect(board.locator("#overall")).to_contain_text("16")
    teacher = _offline_page(browser, url, blocked, locale="en-US", viewport={"width": 1366, "height": 768})
    assert teacher.goto(url + "teacher").status == 401
    teacher.goto(url + "teacher?token=" + store.teacher_token)
    assert teacher.url == url + "teacher"  # the token left the address bar
    assert store.teacher_token not in teacher.content()
    expect(teacher.locator("#students tbody tr")).to_have_count(16)
    assert "Ada" in teacher.inner_text("#students") and "Ada" not in board.content()
    teacher.click("#train")
    expect(teacher.locator("#results")).to_be_visible(timeout=300000)
    try:
        teacher.wait_for_selector("#result-main .results-block", timeout=20000)
    except Exception as exc:
        raise AssertionError(blocked) from exc
    assert teacher.locator(".fractions tr[data-code]").count() >= 4, teacher.inner_text("#results")
    expect(teacher.locator("#unsure figure")).to_have_count(6)
    assert en["results.reference_title"] in teacher.inner_text("#results")  # scored against the answer key
    teacher.wait_for_function("() => [...document.querySelectorAll('#results figure img')]"
                              ".every(i => i.complete && i.naturalWidth > 0)", timeout=20000)
    assert teacher.locator("svg.curves polyline").count() >= 2
    for page, words in ((tablet, de), (phone, fr), (board, en)):  # the result on every screen
        expect(page.locator(".fractions tr[data-code=m]")).to_be_visible(timeout=20000)
        text = page.inner_text("body")
        assert words["decay.m"] in text and "±" in text and "PDG" in text
        assert not any(name in page.content() for name in truth)
    assert en["results.reference_title"] not in board.inner_text("body")  # the answer key stays with the teacher
    tablet.select_option("#lang", "it")  # switchable on the page
    expect(tablet.locator("#done-title")).to_have_text(catalogue("it")["done.title"])
    tablet.click("#new-student-2")  # a shared tablet: the next student
    expect(tablet.locator("#join-form")).to_be_visible()
    assert blocked == []


def test_thirty_students_in_the_browser_at_once(tmp_path: Path, class_displays, browser) -> None:
    session = open_session(class_displays[0], tmp_path / "class.sqlite", out=tmp_path / "run", n=32,
                           students=30, per_student=2, overlap=2, size=64, quiet=True)
    blocked: list[str] = []
    with BackgroundServer(create_app(session, "http://127.0.0.1/")) as server:
        contexts = [browser.new_context(viewport={"width": 390, "height": 700}, locale="en-GB")
                    for _ in range(30)]  # 30 tablets: each its own storage
        for ctx in contexts:
            ctx.route("**/*", lambda route, req: route.continue_() if req.url.startswith(server.url)
                      else (blocked.append(req.url), route.abort()))
        pages = [ctx.new_page() for ctx in contexts]
        start = time.perf_counter()
        for i, page in enumerate(pages):  # everyone joins
            page.goto(server.url)
            page.fill("#name", f"student {i}")
            page.click("#join-form button")
        for page in pages:  # no answer key: straight from the colour key to labelling
            page.click("#to-practice")
        for round_ in range(2):
            for page in pages:
                expect(page.locator("#counter")).to_have_text(f"event {round_ + 1} of 2")
                page.keyboard.press("qemt"[round_])
        for page in pages:
            expect(page.locator("#done")).to_be_visible()
        elapsed = time.perf_counter() - start
        progress = session.store.progress()
        for ctx in contexts:
            ctx.close()
    assert progress["votes"] == 60 and len(progress["students"]) == 30 and blocked == []
    assert elapsed < 180, elapsed
