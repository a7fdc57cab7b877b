"""``eventcnn class``: the OPAL masterclass in the browser, served from the teacher's laptop.

Sub-commands::

    eventcnn class serve   --data ZIP [--reference KEY] [--db class.sqlite] [--host 0.0.0.0] [--port 8000]
                           [--students 25] [--url URL]
    eventcnn class export  --db class.sqlite --out labels.csv [--votes votes.csv]
    eventcnn class results --db class.sqlite --out results.json [--name NAME]
    eventcnn class combine RESULTS.json... --out DIR

``serve`` prints one students' address per network address of this computer
(and a QR code of the first), the projector's address (``/board``, no secret)
and the teacher's address with its secret token (open it once: the token is
exchanged for a cookie and leaves the address bar). Students learn from example
displays, practise, then label blind on tablets or phones; the teacher trains
the CNN on the class's labels and every screen shows the class's measurement of
the Z decay fractions. Votes are in the SQLite file (``--db``): stop and start
the server with the same file and nothing is lost. ``export`` writes the
class's labels (majority per display, opaque display ids) for ``eventcnn opal
train`` and every vote; ``results`` the class's result as JSON; ``combine``
pools the results of several classes. Needs ``pip install "eventcnn[class]"``.
"""

from __future__ import annotations

import argparse
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from eventcnn.cli._defaults import default
from eventcnn.cli._paths import (
    DISPLAYS,
    LABEL_FILE,
    VALUE,
    Input,
    Output,
    OutputFolder,
    Update,
    Value,
    declare,
)
from eventcnn.errors import UserError, few_names
from eventcnn.opal.web.settings import LessonSettings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``class`` with its sub-commands ``serve``, ``export``, ``results`` and ``combine``."""
    parser = subparsers.add_parser("class", help="the masterclass in the browser: a class labels on "
                                                 "tablets, the teacher trains the CNN, the class measures the Z",
                                   description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="class_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    _register_serve(sub)

    e = sub.add_parser("export", help="the class's labels for `opal train`, and every vote")
    e.add_argument("--db", required=True, help="SQLite file of the class (from `class serve`)")
    e.add_argument("--out", required=True,
                   help="label file to write: '<id>.png;<label>' (majority of the votes, opaque display ids)")
    e.add_argument("--votes", default=None, help="also write every vote: display;label;student;time")
    e.add_argument("--overwrite", action="store_true", help="replace existing output files")
    e.add_argument("--quiet", "-q", action="store_true", help="no progress output (the counts are printed)")
    e.set_defaults(func=run_export)
    declare(e, db=CLASS_DB, out=Output("the label file"), votes=Output("the votes CSV"))

    r = sub.add_parser("results", help="the class's result (Z decay fractions with uncertainties) as JSON")
    r.add_argument("--db", required=True, help="SQLite file of the class (from `class serve`, after Train now)")
    r.add_argument("--out", required=True, help="results file to write (JSON, see docs/opal.md)")
    r.add_argument("--name", default=None, help="the class's name in combined results (default: the --db name)")
    r.add_argument("--reference", default=None,
                   help="answer key (label file): also score the class and the CNN against it")
    r.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    r.add_argument("--quiet", "-q", action="store_true", help="no progress output (the result line is printed)")
    r.set_defaults(func=run_results)
    declare(r, db=CLASS_DB, out=Output("the results JSON"), reference=LABEL_FILE,
            name=Value("the class's name inside the results JSON, never a path"))

    c = sub.add_parser("combine", help="pool the results of several classes (as the International Masterclasses do)")
    c.add_argument("results", nargs="+", metavar="RESULTS", help="results files of `eventcnn class results`")
    c.add_argument("--out", required=True, help="folder for combined.json and combined.png")
    c.add_argument("--overwrite", action="store_true", help="replace existing outputs in --out")
    c.add_argument("--quiet", "-q", action="store_true", help="no progress output (the result line is printed)")
    c.set_defaults(func=run_combine)
    declare(c, results=Input("results files of `eventcnn class results` (JSON)", folder=False, kind="json"),
            out=OutputFolder("the folder of the combined results", replaces=("combined.json", "combined.png")))


#: the class database an exporting command reads (never changed by it)
CLASS_DB = Input("the class database (SQLite) of `eventcnn class serve`", folder=False, kind="db")


def _register_serve(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("serve", help="serve the student, board and teacher pages")
    s.add_argument("--data", required=True, help="zip or folder of OPAL event displays")
    s.add_argument("--reference", default=None,
                   help="the answer key (label file, e.g. events_list.csv; stays on this computer): example "
                        "and practice displays for the students, and the class and CNN scored at the end")
    s.add_argument("--originals", default=None,
                   help="zip or folder of the full OPAL displays (the Manchester set: eventcnn data fetch manchester): "
                        "students see the original display, header included, wherever it has one of the same "
                        "name; the CNN still reads --data")
    s.add_argument("--db", default="class.sqlite",
                   help="SQLite file of the class's votes, created when missing; the same file "
                        "again resumes the class (default %(default)s)")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on: 127.0.0.1 (default) is this computer only; "
                        "--host 0.0.0.0 opens the class to the classroom network (tablets and "
                        "phones on the same Wi-Fi or this computer's hotspot)")
    s.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    s.add_argument("--url", default=None,
                   help="the address the QR code carries instead of the first found (a name such as "
                        "http://class.local:8000/, or a port forward)")
    s.add_argument("--students", type=int, default=default(LessonSettings, "students"),
                   help="the class size: ceil(students x per-student / overlap) displays are handed out "
                        "(default %(default)s)")
    s.add_argument("--per-student", type=int, default=default(LessonSettings, "per_student"),
                   help="displays per student (default %(default)s)")
    s.add_argument("--overlap", type=int, default=default(LessonSettings, "overlap"),
                   help="students per display, to measure agreement (default %(default)s)")
    s.add_argument("--n", type=int, default=None,
                   help="displays the class labels, chosen by `opal suggest` (default: from --students)")
    s.add_argument("--idle", type=float, default=default(LessonSettings, "idle"),
                   help="seconds of silence after which a student's unanswered displays go back to the pool "
                        "(default %(default)s)")
    s.add_argument("--seed", type=int, default=default(LessonSettings, "seed"),
                   help="seed of the choice and order (default %(default)s)")
    s.add_argument("--out", default=None,
                   help="run folder of the class training (default: <db>_run next to the database)")
    s.add_argument("--epochs", type=int, default=default(LessonSettings, "epochs"),
                   help="at most this many training epochs: the lesson's time budget (default %(default)s)")
    s.add_argument("--size", type=int, default=default(LessonSettings, "size"),
                   help="display size in pixels (default %(default)s)")
    s.add_argument("--quiet", "-q", action="store_true", help="print only the addresses")
    s.set_defaults(func=run_serve)
    declare(s, data=DISPLAYS, originals=DISPLAYS, reference=LABEL_FILE, db=Update("the class database (SQLite)", folder=False, kind="db"),
            host=VALUE, url=VALUE, out=OutputFolder("the run folder of the class training"))


def _originals(path: str | None) -> object | None:
    """The full displays students see (``--originals``), or None; an unusable set is refused at start."""
    if path is None:
        return None
    from eventcnn.images.display_originals import DisplayOriginals

    return DisplayOriginals(path)


def _check_port(host: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise UserError(f"--port must be 1 to 65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror}): is another server "
                            f"running? give another --port, e.g. --port {port + 1}") from exc


def _check_url(url: str | None) -> str | None:
    if url is None:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise UserError(f"--url must be an address such as http://192.168.1.20:8000/, got {url!r}")
    return url if url.endswith("/") else url + "/"


def _addresses(args: argparse.Namespace) -> tuple[list[str], str, str | None]:
    """The students' addresses, the address shown to the teacher, and the line when nobody can reach us."""
    from eventcnn.opal.web.network import reachable_note, student_urls, url_for

    urls = student_urls(args.host, args.port)
    own = urls[0] if urls else url_for("127.0.0.1" if ":" not in args.host else "::1", args.port)
    return urls, own, reachable_note(args.host, args.port)


def run_serve(args: argparse.Namespace) -> int:
    """Open the class and serve it until Ctrl-C (or SIGTERM / SIGHUP): every vote is in the --db file then."""
    try:
        import uvicorn

        from eventcnn.opal.web.app import create_app
    except ImportError as exc:
        raise UserError(f"`eventcnn class` needs FastAPI, uvicorn and segno ({exc.name} is missing): "
                        'pip install "eventcnn[class]"') from exc
    from eventcnn.opal.web.session import open_session

    start = time.perf_counter()
    qr = _check_url(args.url)
    options = {k: getattr(args, k) for k in ("students", "per_student", "overlap", "n", "idle", "seed", "epochs",
                                             "size")}
    LessonSettings(**options)  # every option checked before anything else happens
    _check_port(args.host, args.port)
    urls, own, note = _addresses(args)
    qr = qr or own
    originals = _originals(args.originals)
    session = open_session(args.data, args.db, out=args.out, reference=args.reference, address=qr,
                           quiet=args.quiet, originals=originals, **options)
    try:
        app = create_app(session, urls or [own], qr_url=qr)
        _print_addresses(args, session, urls, own, qr, note, originals)
        server = _server_class(uvicorn)(uvicorn.Config(app, host=args.host.strip("[]"), port=args.port,
                                                       log_level="warning", access_log=False,
                                                       timeout_graceful_shutdown=3))
        threading.Thread(target=_say_ready, args=(server, start, session.job.prepare), daemon=True).start()
        server.run()
    finally:
        session.close()  # the training child ends, the log is emptied into the --db file, the lock released
    if not args.quiet:
        print(f"stopped; every vote is in {Path(args.db).resolve()}", flush=True)
    return 0


def _server_class(uvicorn: object) -> type:
    """uvicorn's server, stopping in order on Ctrl-C, SIGTERM and SIGHUP (a closed terminal) alike, exit 0."""
    import contextlib

    class ClassServer(uvicorn.Server):  # type: ignore[name-defined,misc]
        @contextlib.contextmanager
        def capture_signals(self):  # noqa: ANN202 - uvicorn's hook
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            names = ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")
            wanted = [getattr(signal, n) for n in names if hasattr(signal, n)]
            old = {sig: signal.signal(sig, self.handle_exit) for sig in wanted}
            try:
                yield
            finally:  # unlike uvicorn, no re-raise afterwards: the command ends normally, cleaned up
                for sig, handler in old.items():
                    signal.signal(sig, handler)

    return ClassServer


def _say_ready(server: object, start: float, then: Callable[[], object] | None = None) -> None:
    while not getattr(server, "started", False) and not getattr(server, "should_exit", False):
        time.sleep(0.01)
    if getattr(server, "started", False):  # once the socket listens: the start-up time of docs/benchmarks.md
        print(f"ready in {time.perf_counter() - start:.1f} s; Ctrl-C stops the server", flush=True)
        if then is not None:  # the simulated displays of fine-tuning, made ahead at low priority
            then()


def _print_addresses(args: argparse.Namespace, session: object, urls: list[str], own: str, qr: str,
                     note: str | None, originals: object | None = None) -> None:
    token = session.store.teacher_token  # type: ignore[attr-defined]
    if not args.quiet:
        import segno

        cap = session.capacity()  # type: ignore[attr-defined]
        print(f"{len(session.names)} displays in {Path(args.data).name}; {cap['line']}")  # type: ignore[attr-defined]
        if originals is not None:
            names = {str(n) for n in session.names}  # type: ignore[attr-defined]
            shown = len(originals.names & names)  # type: ignore[attr-defined]
            print(f"full displays: {shown} of {len(names)} shown as the original from {Path(args.originals).name} "
                  f"(header included); the rest as in {Path(args.data).name}")
            if originals.skipped:  # type: ignore[attr-defined]
                skipped = [m for m, _ in originals.skipped]  # type: ignore[attr-defined]
                print(f"warning: {len(skipped)} files of {Path(args.originals).name} are not readable displays "
                      f"and are not shown: {few_names(skipped)}")
            if not shown:
                print(f"warning: no display of {Path(args.data).name} has a full display of the same name in "
                      f"{Path(args.originals).name}: give the full displays of the same events (or leave out "
                      "--originals)")
        print(f"votes are saved in {Path(args.db).resolve()} (start again with the same --db to go on)")
        segno.make(qr, error="m").terminal(compact=True)
    for url in urls:
        print(f"students: {url}")
    if note:
        print(f"students (this computer only): {own}")
        print(f"warning: {note}")
    if args.url:
        print(f"QR code:  {qr}")
    print(f"board:    {own}board   (project this page: no names, no secret)")
    print(f"teacher:  {own}teacher?token={token}   (keep it to yourself; opened once, the token leaves "
          "the address bar)", flush=True)


def run_export(args: argparse.Namespace) -> int:
    """Write the label file (and the votes) from a consistent copy of the class database."""
    from eventcnn.errors import check_output
    from eventcnn.opal.web.export import snapshot, write_exports

    check_output(args.out, inputs=[args.db], overwrite=args.overwrite)
    if args.votes:
        check_output(args.votes, inputs=[args.db, args.out], overwrite=args.overwrite, flag="--votes")
        if Path(args.votes).resolve() == Path(args.out).resolve():
            raise UserError(f"--votes {args.votes} is the same file as --out: give two file names")
    store = snapshot(args.db)
    if not store.votes():
        raise UserError(f"{args.db} holds a class without any vote yet: nothing to export")
    counts = write_exports(store, args.out, args.votes)
    print(f"{counts['labels']} class labels -> {args.out}"  # the result, not progress: printed also with -q
          + (f"; {counts['undecided']} displays without a majority left out" if counts["undecided"] else ""))
    if args.votes:
        print(f"{counts['votes']} votes -> {args.votes}")
    return 0


def run_results(args: argparse.Namespace) -> int:
    """Write the class's results file (the measurement of its last training)."""
    import json

    from eventcnn._io import write_json_atomic
    from eventcnn.errors import check_output
    from eventcnn.opal.displays import read_labels
    from eventcnn.opal.ids import display_id
    from eventcnn.opal.web.export import snapshot
    from eventcnn.opal.web.results import class_results
    from eventcnn.opal.web.supervisor import LABEL_FILE, LESSON_FILE

    check_output(args.out, inputs=[args.db] + ([args.reference] if args.reference else []),
                 overwrite=args.overwrite)
    # the answer key is read before anything else: a damaged one is named at the start, whatever the class did
    ref = {display_id(k): v for k, v in read_labels(args.reference).items()} if args.reference else None
    store = snapshot(args.db)
    run = store.meta("run")
    lesson_path = Path(run) / LESSON_FILE if run else None
    if lesson_path is None or not lesson_path.is_file():
        raise UserError(f"{args.db}: the class has not trained yet (no {LESSON_FILE} in its run folder "
                        f"{run or '?'}); press Train now on the teacher page first")
    try:
        lesson = json.loads(lesson_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UserError(f"{lesson_path} is damaged ({exc}); press Train now again") from None
    labels = None
    if ref is not None:
        labels = {line.split(";")[0][:-4]: line.split(";")[1]
                  for line in (Path(run) / LABEL_FILE).read_text(encoding="utf-8").splitlines() if ";" in line}
    res = class_results(store.progress(), lesson, args.name or Path(args.db).stem, ref, labels)
    write_json_atomic(args.out, res)
    m = res["measurement"]
    if m is None:
        print(f"no measurement: {res['problem']['code']} {', '.join(res['problem']['classes'])} "
              "(label more displays of those classes and train again)")
    else:
        parts = [f"{c} {100 * f['value']:.1f} +- {100 * f['total']:.1f} %" for c, f in m["fractions"].items()]
        print(f"{m['n_displays']} displays measured: " + ", ".join(parts))
    print(f"results -> {args.out}")
    return 0


def run_combine(args: argparse.Namespace) -> int:
    """Pool several classes' results into DIR/combined.json and DIR/combined.png."""
    from eventcnn.errors import check_output
    from eventcnn.opal.web.results import combine_results

    out = Path(args.out)
    check_output(out, inputs=args.results, folder=True)
    for name in ("combined.json", "combined.png"):
        check_output(out / name, inputs=args.results, overwrite=args.overwrite)
    pooled = combine_results(args.results, out)
    parts = [f"{c} {100 * f['value']:.1f} +- {100 * f['total']:.1f} %" for c, f in pooled["fractions"].items()
             if f["value"] is not None]
    print(f"{pooled['n_inputs']} classes, {pooled['n_displays']} displays: " + ", ".join(parts))
    print(f"-> {out / 'combined.json'}, {out / 'combined.png'}")
    return 0
