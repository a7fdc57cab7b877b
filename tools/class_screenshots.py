"""Screenshots of every step of the `eventcnn class` lesson for the docs (run: python -m tools.class_screenshots).

Serves a class on the real displays with their answer key, lets a simulated
class vote (the answer key, one answer in ten changed, one in twenty skipped),
trains once when the run folder has no finished training yet, then photographs
with headless Chromium (offline: every request that leaves the server is
blocked): the learning step and a practice answer on a tablet, labelling on a
tablet, the result on a phone, the board on a 1366x768 projector and the
teacher page.

Example::

    python -m tools.class_screenshots --data ../shared/data/opal/centered-masked-rotated1.zip \\
        --reference ../shared/data/opal/events_list.csv --db /tmp/shots.sqlite --out docs/img
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np

from eventcnn.opal import read_labels
from eventcnn.opal.web.app import BackgroundServer, create_app
from eventcnn.opal.web.session import open_session

TABLET = {"viewport": {"width": 820, "height": 1180}, "device_scale_factor": 1, "has_touch": True}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "has_touch": True, "is_mobile": True}
PROJECTOR = {"viewport": {"width": 1366, "height": 768}, "device_scale_factor": 1}


def simulate_class(session, reference: dict[str, str], students: int, seed: int = 0) -> None:
    """``students`` students answer all their displays: the answer key, 10 % changed, 5 % skipped."""
    rng = np.random.default_rng(seed)
    store = session.store
    for i in range(students):
        sid = session.join(f"student {i + 1}")
        while (nd := session.next_display(sid))["display"] is not None:
            label = reference[store.display_name(nd["display"])]
            u = rng.random()
            if u < 0.05:
                label = "skip"
            elif u < 0.15:
                label = str(rng.choice([c for c in "qemt" if c != label]))
            store.vote(sid, nd["display"], label, f"{sid}-{nd['index']}-sim")


def _wait_images(page, selector: str = "img") -> None:
    for _ in range(150):
        if page.evaluate("(sel) => [...document.querySelectorAll(sel)].filter(i => i.offsetParent)"
                         ".every(i => i.complete && i.naturalWidth > 0)", selector):
            return
        time.sleep(0.2)


def _practise(page, first_done: bool) -> None:
    """Answer every practice display with "hadrons" (the feedback says whether that was right)."""
    page.wait_for_selector("#practice:not([hidden])")
    n = int(page.inner_text("#practice-counter").split()[-1])
    for i in range(n):
        if i or not first_done:
            page.wait_for_selector("#feedback", state="hidden")
            page.keyboard.press("q")
            page.wait_for_selector("#feedback:not([hidden])")
        page.click("#practice-next")
    page.wait_for_selector("#label:not([hidden])")


def _student_steps(page, url: str, out: Path) -> None:
    """Join, the learning step, a practice answer, labelling: one screenshot each."""
    page.goto(url)
    page.fill("#name", "Mia")
    page.click("#join-form button")
    page.wait_for_selector("#learn:not([hidden])")
    _wait_images(page, ".example img")
    page.screenshot(path=str(out / "class_learn.png"), full_page=False)
    page.click("#to-practice")
    page.wait_for_selector("#practice:not([hidden])")
    _wait_images(page, "#practice-display")
    page.keyboard.press("q")
    page.wait_for_selector("#feedback:not([hidden])")
    page.screenshot(path=str(out / "class_practice.png"), full_page=False)
    _practise(page, first_done=True)
    for key in "qqm":
        page.wait_for_selector("#label:not([hidden])")
        _wait_images(page, "#display")
        before = page.inner_text("#counter")
        page.keyboard.press(key)
        page.wait_for_function("(b) => document.getElementById('counter').textContent !== b", arg=before)
    _wait_images(page, "#display")
    page.screenshot(path=str(out / "class_student.png"), full_page=False)


def main() -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--reference", required=True, help="the answer key: examples, practice, the simulated votes")
    p.add_argument("--db", required=True)
    p.add_argument("--run", default=None, help="training run folder (default <db>_run)")
    p.add_argument("--out", default="docs/img")
    p.add_argument("--students", type=int, default=25)
    p.add_argument("--epochs", type=int, default=12)
    args = p.parse_args()
    session = open_session(args.data, args.db, out=args.run, reference=args.reference, students=args.students,
                           epochs=args.epochs, quiet=True)
    reference = {k[:-4]: v for k, v in read_labels(args.reference).items()}
    if not session.store.votes():
        simulate_class(session, reference, args.students - 1)
    if session.job.status()["state"] != "done":
        session.job.start()
        session.job.join()
        print(session.job.status()["stage"], session.job.status().get("error"))
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    blocked: list[str] = []
    with BackgroundServer(create_app(session, "http://192.168.1.20:8000/")) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium")

        def page_for(**ctx):
            page = browser.new_context(locale="en-GB", **ctx).new_page()
            page.route("**/*", lambda route, req: route.continue_() if req.url.startswith(server.url)
                       else (blocked.append(req.url), route.abort()))
            return page

        _student_steps(page_for(**TABLET), server.url, out)
        phone = page_for(**PHONE)
        phone.goto(server.url)
        phone.fill("#name", "Leo")
        phone.click("#join-form button")
        phone.click("#to-practice")
        _practise(phone, first_done=False)
        while not phone.is_visible("#done"):
            phone.wait_for_selector("#label:not([hidden])")
            before = phone.inner_text("#counter")
            phone.keyboard.press("q")
            phone.wait_for_function("(b) => !document.getElementById('label').offsetParent || "
                                    "document.getElementById('counter').textContent !== b", arg=before)
        phone.wait_for_selector("#done-results .fractions")
        phone.screenshot(path=str(out / "class_result.png"), full_page=True)
        board = page_for(**PROJECTOR)
        board.goto(server.url + "board")
        board.wait_for_selector("#result-main .fractions", timeout=60000)
        _wait_images(board)
        board.screenshot(path=str(out / "class_board.png"), full_page=True)
        teacher = page_for(**PROJECTOR)
        teacher.goto(server.url + "teacher?token=" + session.store.teacher_token)
        teacher.wait_for_selector("#result-main .fractions", timeout=60000)
        _wait_images(teacher)
        time.sleep(0.5)
        teacher.screenshot(path=str(out / "class_teacher.png"), full_page=True)
        browser.close()
    session.close()
    names = ["class_learn", "class_practice", "class_student", "class_result", "class_board", "class_teacher"]
    print(f"written {', '.join(str(out / (n + '.png')) for n in names)}; blocked requests: {blocked}")


if __name__ == "__main__":
    main()
