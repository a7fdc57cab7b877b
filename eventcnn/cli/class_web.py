"""``eventcnn class``: the OPAL masterclass in the browser, served from the teacher's laptop.

Sub-commands::

    eventcnn class serve  --data ZIP [--db class.sqlite] [--host 127.0.0.1] [--port 8000] [--n 50]
    eventcnn class export --db class.sqlite --out labels.csv [--votes votes.csv]

``serve`` prints the students' address with a QR code and the teacher's address
with its secret token. Students label blind on tablets or phones (the displays
``opal suggest`` picks, spread over the class, each given to two students);
the teacher page shows progress and agreement and trains the CNN on the
class's labels. Votes are in the SQLite file (``--db``): stop and start the
server with the same file and nothing is lost. ``export`` writes the class's
labels (majority per display) in the label format of ``eventcnn opal train``
and every vote for the teacher. Needs ``pip install "eventcnn[class]"``.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path

from eventcnn.cli._defaults import default
from eventcnn.cli._paths import DISPLAYS, VALUE, Input, Output, OutputFolder, Update, declare
from eventcnn.errors import UserError
from eventcnn.opal.suggest import suggest_indices  # light: no Keras


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``class`` with its sub-commands ``serve`` and ``export``."""
    parser = subparsers.add_parser("class", help="the masterclass in the browser: a class labels on "
                                                 "tablets, the teacher trains the CNN",
                                   description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="class_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    s = sub.add_parser("serve", help="serve the student and teacher pages")
    s.add_argument("--data", required=True, help="zip or folder of OPAL event displays")
    s.add_argument("--db", default="class.sqlite",
                   help="SQLite file of the class's votes, created when missing; the same file "
                        "again resumes the class (default %(default)s)")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on: 127.0.0.1 (default) is this computer only; "
                        "--host 0.0.0.0 opens the class to the classroom network (tablets and "
                        "phones on the same Wi-Fi)")
    s.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    s.add_argument("--n", type=int, default=50,
                   help="displays the class labels, chosen by `opal suggest` (default %(default)s)")
    s.add_argument("--per-student", type=int, default=10,
                   help="displays per student (default %(default)s)")
    s.add_argument("--overlap", type=int, default=2,
                   help="students per display, to measure agreement (default %(default)s)")
    s.add_argument("--seed", type=int, default=default(suggest_indices, "seed"),
                   help="seed of the choice and order (default %(default)s)")
    s.add_argument("--out", default=None,
                   help="run folder of the class training (default: <db>_run next to the database)")
    s.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default: the masterclass recipe's)")
    s.add_argument("--size", type=int, default=None, help="display size in pixels (default 200)")
    s.add_argument("--quiet", "-q", action="store_true", help="print only the addresses")
    s.set_defaults(func=run_serve)
    declare(s, data=DISPLAYS, db=Update("the class database (SQLite)", folder=False, kind="db"), host=VALUE,
            out=OutputFolder("the run folder of the class training"))

    e = sub.add_parser("export", help="the class's labels for `opal train`, and every vote")
    e.add_argument("--db", required=True, help="SQLite file of the class (from `class serve`)")
    e.add_argument("--out", required=True,
                   help="label file to write: '<event>.png;<label>' (majority of the votes)")
    e.add_argument("--votes", default=None, help="also write every vote: display;label;student;time")
    e.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    e.set_defaults(func=run_export)
    declare(e, db=Input("the class database (SQLite) of `eventcnn class serve`", folder=False, kind="db"),
            out=Output("the label file"), votes=Output("the votes CSV"))


def lan_address() -> str:
    """This computer's address on the local network (no packet is sent), or 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: picks the outgoing interface only
            return str(sock.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _check_port(host: str, port: int) -> None:

    if not 1 <= port <= 65535:
        raise UserError(f"--port must be 1 to 65535, got {port}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror}): is another server "
                            f"running? give another --port, e.g. --port {port + 1}") from exc


def run_serve(args: argparse.Namespace) -> int:
    """Open the class and serve it until Ctrl-C."""

    try:
        import uvicorn

        from eventcnn.opal.web.app import create_app
    except ImportError as exc:
        raise UserError(f"`eventcnn class` needs FastAPI, uvicorn and segno ({exc.name} is missing): "
                        'pip install "eventcnn[class]"') from exc
    from eventcnn.opal.displays import IMAGE_SIZE
    from eventcnn.opal.web.session import open_session

    start = time.perf_counter()
    _check_port(args.host, args.port)
    settings = {} if args.epochs is None else {"epochs": args.epochs}
    session = open_session(args.data, args.db, n=args.n, per_student=args.per_student,
                           overlap=args.overlap, seed=args.seed, size=args.size or IMAGE_SIZE,
                           out=args.out, quiet=args.quiet, **settings)
    shown = lan_address() if args.host in ("0.0.0.0", "") else args.host
    student_url = f"http://{shown}:{args.port}/"
    teacher_url = f"http://{shown}:{args.port}/teacher?token={session.store.teacher_token}"
    app = create_app(session, student_url)
    if not args.quiet:
        import segno

        print(f"{len(session.names)} displays in {Path(args.data).name}; the class labels "
              f"{len(session.store.pool())} of them; {session.capacity()}")
        print(f"votes are saved in {Path(args.db).resolve()} (start again with the same --db to go on)")
        segno.make(student_url, error="m").terminal(compact=True)
    print(f"students: {student_url}")
    print(f"teacher:  {teacher_url}   (keep this address to yourself)")
    if args.host == "127.0.0.1" and not args.quiet:
        print("only this computer can connect; --host 0.0.0.0 opens it to the classroom network")
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                                          access_log=False, timeout_graceful_shutdown=3))

    def say_ready() -> None:  # once the socket listens: the start-up time of docs/benchmarks.md
        while not server.started and not server.should_exit:
            time.sleep(0.01)
        if server.started:
            print(f"ready in {time.perf_counter() - start:.1f} s; Ctrl-C stops the server", flush=True)

    threading.Thread(target=say_ready, daemon=True).start()
    server.run()
    session.store.close()
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Write the label file (and the votes)."""
    from eventcnn.errors import check_writable
    from eventcnn.opal.web.export import write_exports
    from eventcnn.opal.web.store import ClassStore

    if not Path(args.db).is_file():
        raise UserError(f"{args.db} not found: give the --db file of `eventcnn class serve`")
    check_writable(args.out)
    if args.votes:
        check_writable(args.votes)
    counts = write_exports(ClassStore(args.db), args.out, args.votes)
    print(f"{counts['labels']} class labels -> {args.out}"
          + (f"; {counts['undecided']} displays without a majority left out" if counts["undecided"] else ""))
    if args.votes:
        print(f"{counts['votes']} votes -> {args.votes}")
    return 0
