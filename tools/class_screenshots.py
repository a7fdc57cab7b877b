"""Screenshots of the `eventcnn class` pages for the docs (run: python -m tools.class_screenshots).

Serves a class on the real displays, lets a simulated class of students vote
(the reference labels, one in ten changed, some skipped), trains once when the
run folder has no finished training yet, then photographs the student page on
a tablet and the teacher page with headless Chromium (offline: every request
that leaves the server is blocked).

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


def simulate_class(session, reference: dict[str, str], students: int, seed: int = 0) -> None:
    """``students`` students answer all their displays: the reference label, 10 % changed, 5 % skipped."""
    rng = np.random.default_rng(seed)
    store = session.store
    for i in range(students):
        sid = session.join(f"student {i + 1}")
        while (nd := store.next_display(sid))["display"] is not None:
            label = reference[store.display_name(nd["display"])]
            u = rng.random()
            if u < 0.05:
                label = "skip"
            elif u < 0.15:
                label = str(rng.choice([c for c in "qemt" if c != label]))
            store.vote(sid, nd["display"], label, f"{sid}-{nd['index']}-sim")


def main() -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--reference", required=True, help="reference labels the simulated class votes")
    p.add_argument("--db", required=True)
    p.add_argument("--run", default=None, help="training run folder (default <db>_run)")
    p.add_argument("--out", default="docs/img")
    p.add_argument("--students", type=int, default=10)
    p.add_argument("--epochs", type=int, default=None)
    args = p.parse_args()
    settings = {} if args.epochs is None else {"epochs": args.epochs}
    session = open_session(args.data, args.db, n=50, per_student=10, overlap=2, out=args.run, quiet=True,
                           **settings)
    if not session.store.votes():
        reference = {k[:-4]: v for k, v in read_labels(args.reference).items()}
        simulate_class(session, reference, args.students)
    if session.job.status()["state"] != "done":
        session.job.start()
        session.job.join()
        print(session.job.status()["stage"], session.job.status().get("error"))
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    blocked: list[str] = []
    with BackgroundServer(create_app(session, "http://192.168.1.20:8000/")) as server, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium")

        def page_for(**ctx):
            page = browser.new_context(**ctx).new_page()
            page.route("**/*", lambda route, req: route.continue_() if req.url.startswith(server.url)
                       else (blocked.append(req.url), route.abort()))
            return page

        student = page_for(viewport={"width": 820, "height": 1180}, device_scale_factor=1, has_touch=True)
        student.goto(server.url)
        student.fill("#name", "Mia")
        student.click("text=Start")
        for key in "qqmqqt":
            student.wait_for_function("() => document.getElementById('display').complete")
            before = student.inner_text("#counter")
            student.keyboard.press(key)
            student.wait_for_function("(b) => document.getElementById('counter').textContent !== b", arg=before)
        student.wait_for_function("() => { const i = document.getElementById('display'); "
                                  "return i.complete && i.naturalWidth > 0; }")
        student.screenshot(path=str(out / "class_student.png"), full_page=True)
        teacher = page_for(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        teacher.goto(server.url + "teacher?token=" + session.store.teacher_token)
        teacher.wait_for_selector("#results:not([hidden])", timeout=60000)
        for _ in range(100):  # every picture loaded
            if teacher.evaluate("() => [...document.querySelectorAll('#results figure:not([hidden]) img, #qr')]"
                                ".every(i => i.complete && i.naturalWidth > 0)"):
                break
            time.sleep(0.2)
        time.sleep(0.5)
        teacher.screenshot(path=str(out / "class_teacher.png"), full_page=True)
        browser.close()
    print(f"written {out / 'class_student.png'}, {out / 'class_teacher.png'}; blocked requests: {blocked}")


if __name__ == "__main__":
    main()
