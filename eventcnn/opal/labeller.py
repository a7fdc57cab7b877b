"""Hand labelling of OPAL event displays: a session, a notebook widget, a console fallback.

The logic lives in :class:`LabelSession` (no widgets): it keeps the labels,
the position and the history, and rewrites the label file atomically (with
fsync) after *every* answer, so a crash loses nothing and re-opening resumes at
the first unlabelled event. The file is in the masterclass format
(``<event>.png;<label>``, no header), so it can be passed straight to
:func:`eventcnn.opal.load_displays` or ``eventcnn opal train --labels``.

Two front ends drive the same session: :func:`labeller_widget` (ipywidgets:
the display, buttons q/e/m/t/skip/back and the counts) and
:func:`run_console` (``input()``-driven; the input function is injectable).

Example::

    from eventcnn import opal
    from eventcnn.opal import labeller
    data = opal.load_displays("centered-masked-rotated1.zip")
    session = labeller.LabelSession(data.names[:50], "my_labels.csv")
    labeller.labeller_widget(session, data.images[:50])   # in Jupyter
    # or, in a terminal:
    labeller.run_console(session)
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import atomic_path
from eventcnn.errors import UserError
from eventcnn.opal import CLASS_NAMES, CLASS_TITLES, event_name, read_labels
from eventcnn.opal.ids import display_ids
from eventcnn.opal.suggest import suggest_indices
from eventcnn.seeds import DEFAULT_SEED

__all__ = ["compare_labels", "HELP", "labeller_widget", "LabelSession", "run_console", "simulate_student", "student_labels", "widgets_available"]


HELP = "q = hadronic, e = electron, m = muon, t = tau, s = skip, b = back, x = stop"


class LabelSession:
    """Hand labels of a list of events, saved to ``path`` after every answer.

    ``names``: the events to label, in order (names with or without ``.png``).
    An existing ``path`` is read (resume); labels of events not in ``names``
    are kept in the file untouched.

    Example::

        s = LabelSession(["ev1", "ev2", "ev3"], "labels.csv")
        s.current            # 'ev1'
        s.answer("q")        # labels ev1, saves, moves to ev2
        s.skip(); s.back()   # back at ev2
        s.counts()           # {'q': 1, 'e': 0, 'm': 0, 't': 0}
    """

    def __init__(self, names: Sequence[str] | np.ndarray, path: str | os.PathLike[str]) -> None:
        self.names: list[str] = [event_name(str(n), prefixes=()) for n in names]
        # names match case-insensitively, as in read_labels and load_displays
        self._by_key: dict[str, str] = {n.lower(): n for n in self.names}
        if len(self._by_key) != len(self.names):
            raise UserError("event names given to LabelSession must be unique (ignoring case)")
        self.path = Path(path)
        self.labels: dict[str, str] = {}
        self._extra: dict[str, str] = {}  # labels in the file for events not in this session
        if self.path.exists():
            for name, label in read_labels(self.path).items():
                key = event_name(name, prefixes=())
                own = self._by_key.get(key.lower())
                if own is not None:
                    self.labels[own] = label
                else:
                    self._extra[key] = label
        self._history: list[int] = []
        first = self._next_unlabelled(0)
        self.position: int | None = first

    # ------------------------------------------------------------------ state
    @property
    def current(self) -> str | None:
        """Name of the event to label now, or None when every event is labelled."""
        return None if self.position is None else self.names[self.position]

    @property
    def done(self) -> bool:
        """True when every event of the session carries a label."""
        return len(self.labels) == len(self.names)

    def counts(self) -> dict[str, int]:
        """Labelled events per class, in :data:`~eventcnn.opal.CLASS_NAMES` order."""
        return {c: sum(1 for v in self.labels.values() if v == c) for c in CLASS_NAMES}

    def status(self) -> str:
        """One line: labelled so far and the counts per class."""
        counts = ", ".join(f"{c}: {n}" for c, n in self.counts().items())
        return f"{len(self.labels)} of {len(self.names)} labelled ({counts})"

    def _next_unlabelled(self, start: int) -> int | None:
        for i in [*range(start, len(self.names)), *range(0, min(start, len(self.names)))]:
            if self.names[i] not in self.labels:
                return i
        return None

    def _advance(self) -> None:
        if self.position is not None:
            self._history.append(self.position)
            self.position = self._next_unlabelled(self.position + 1)

    # ------------------------------------------------------------------ actions
    def label(self, name: str, cls: str) -> None:
        """Give event ``name`` the class ``cls`` (q/e/m/t) and save at once.

        When ``name`` is the current event, the session moves on to the next
        unlabelled one.
        """
        cls = cls.strip().lower()
        if cls not in CLASS_NAMES:
            raise UserError(f"class must be one of {', '.join(CLASS_NAMES)}, got {cls!r}")
        key = self._by_key.get(event_name(name, prefixes=()).lower())
        if key is None:
            raise KeyError(f"event {name!r} is not part of this labelling session")
        self.labels[key] = cls
        self.save()
        if key == self.current:
            self._advance()

    def answer(self, cls: str) -> None:
        """Label the current event with ``cls`` (see :meth:`label`)."""
        if self.current is None:
            raise UserError("every event is labelled already")
        self.label(self.current, cls)

    def skip(self) -> None:
        """Move on without labelling the current event (it stays unlabelled)."""
        if self.position is None:
            return
        self._history.append(self.position)
        self.position = self._next_unlabelled(self.position + 1)

    def back(self) -> None:
        """Go back to the event shown before (its label, if any, may be changed)."""
        if self._history:
            self.position = self._history.pop()

    def next_item(self) -> str | None:
        """The event to show next (same as :attr:`current`)."""
        return self.current

    def save(self) -> Path:
        """Rewrite the label file atomically and fsync it (called after every answer)."""
        rows = [f"{n}.png;{c}" for n, c in self._extra.items()]
        rows += [f"{n}.png;{self.labels[n]}" for n in self.names if n in self.labels]
        with atomic_path(self.path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("\n".join(rows) + ("\n" if rows else ""))
            fh.flush()
            os.fsync(fh.fileno())
        return self.path

    def as_array(self) -> np.ndarray:
        """Labels in session order as an array (``""`` for unlabelled events)."""
        return np.array([self.labels.get(n, "") for n in self.names], dtype="<U1")


def run_console(session: LabelSession, input_fn: Callable[[str], str] = input,
                max_answers: int | None = None,
                show_fn: Callable[[int], None] | None = None) -> LabelSession:
    """Label in a text console: one event per prompt, answers q/e/m/t, s, b or x.

    Blind: the prompt says "event 7 of 50", never the event name (names such as
    ``e5293_...`` give the class away). The last line says how many labels were
    saved, or that nothing was labelled and nothing written.

    ``input_fn`` is injectable (tests, other front ends); messages go to stdout. Stops
    at ``x``, at end of input (EOF), after ``max_answers`` prompts or when every
    event is labelled. ``show_fn(position)`` is called before each prompt (e.g.
    to write the current display to a PNG the user has open).

    Example::

        answers = iter(["q", "e", "x"])
        run_console(session, input_fn=lambda prompt: next(answers))
    """
    print(f"Label the events: {HELP}")
    asked = answered = 0
    eof = False
    while session.current is not None and (max_answers is None or asked < max_answers):
        asked += 1
        pos = session.position
        assert pos is not None
        if show_fn is not None:
            show_fn(pos)
        try:
            # blind: the event name (e5293_..., qq5305_...) would give the class away
            raw = input_fn(f"event {pos + 1} of {len(session.names)} > ")
        except EOFError:
            eof = True
            print("")  # end the prompt's line
            break
        ans = raw.strip().lower()
        if ans == "x":
            break
        if ans == "s":
            session.skip()
        elif ans == "b":
            session.back()
        elif ans in CLASS_NAMES:
            session.answer(ans)
            answered += 1
        else:
            print(f"unknown answer {raw!r}: {HELP}")
            continue
        print(session.status())
    why = " (end of input)" if eof else ""
    if answered:
        print(f"saved {answered} label(s) to {session.path}{why}: {session.status()}")
    else:  # say exactly what happened: no answer, nothing written
        state = "unchanged" if session.path.exists() else "not written"
        print(f"nothing labelled in this sitting{why}: {session.path} {state}")
    return session


def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def widgets_available() -> bool:
    """True when ipywidgets can be imported and an IPython kernel is running."""
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def labeller_widget(session: LabelSession, images: np.ndarray | Sequence[np.ndarray],
                    zoom: int = 2) -> Any:
    """An ipywidgets labeller for ``session``; ``images[i]`` belongs to ``session.names[i]``.

    Shows one display at a time with buttons q/e/m/t/skip/back and the counts;
    every click is saved at once. Returns the widget (display it, or let Jupyter
    show it as the cell result).

    Example::

        labeller_widget(LabelSession(data.names[:40], "labels.csv"), data.images[:40])
    """
    import ipywidgets as w

    if len(images) != len(session.names):
        raise UserError(f"{len(images)} images for {len(session.names)} events")
    size = int(np.asarray(images[0]).shape[1]) * zoom
    img = w.Image(format="png", width=size, height=size)
    title = w.HTML()
    counts = w.HTML()
    buttons = [w.Button(description=f"{c}: {CLASS_TITLES[c].split(' (')[0]}",
                        tooltip=CLASS_TITLES[c]) for c in CLASS_NAMES]
    skip_b = w.Button(description="skip", tooltip="leave unlabelled, go on")
    back_b = w.Button(description="back", tooltip="go back to the previous event")

    def refresh() -> None:
        pos = session.position
        if pos is None:
            title.value = "<b>All events labelled.</b>"
        else:
            have = session.labels.get(session.names[pos])
            note = f" (labelled <b>{have}</b>; click to change)" if have else ""
            # blind: never the event name, which gives the class away
            title.value = f"Event <b>{pos + 1}</b> of {len(session.names)}{note}"
            img.value = _png_bytes(images[pos])
        counts.value = session.status() + f"<br>saved to <code>{session.path}</code>"

    def on_class(cls: str) -> Callable[[Any], None]:
        def handler(_: Any) -> None:
            if session.current is not None:
                session.answer(cls)
                refresh()
        return handler

    for c, b in zip(CLASS_NAMES, buttons):
        b.on_click(on_class(c))
    skip_b.on_click(lambda _: (session.skip(), refresh()))
    back_b.on_click(lambda _: (session.back(), refresh()))
    refresh()
    return w.VBox([title, img, w.HBox(buttons), w.HBox([skip_b, back_b]), counts])


def simulate_student(session: LabelSession, names: Sequence[str] | np.ndarray,
                     reference: Sequence[str] | np.ndarray, n_label: int,
                     simulate: bool) -> tuple[np.ndarray, int]:
    """The session's labels for ``names`` (``""`` = unlabelled), completed from ``reference`` if needed.

    When ``simulate`` is True (quick mode, CI, no widgets) or fewer than
    ``n_label`` events were labelled, the first ``n_label`` events of the session
    that lack a label get the reference label, written to the session file (a
    simulated student). Returns the labels and how many were simulated.

    Example::

        labels, n_sim = simulate_student(session, data.names, data.labels, 40, simulate=True)
    """
    todo = [n for n in session.names[:n_label] if n not in session.labels]
    simulated = 0
    if todo and (simulate or len(session.labels) < n_label):
        ref = dict(zip(np.asarray(names).tolist(), np.asarray(reference).tolist()))
        for name in todo:
            session.label(name, ref[name])
        simulated = len(todo)
    table = session.labels
    return np.array([table.get(n, "") for n in names], dtype="<U1"), simulated


def compare_labels(names: Sequence[str] | np.ndarray, student: Sequence[str] | np.ndarray,
                   reference: Sequence[str] | np.ndarray) -> dict[str, Any]:
    """Agreement of two label sets over the events labelled in both.

    Returns ``n`` (events compared), ``agreement`` (share of equal labels),
    ``confusion`` (rows: reference, columns: student, :data:`CLASS_NAMES` order)
    and ``disagreements`` (list of ``(name, reference, student)``).

    Example::

        cmp = compare_labels(data.names, session_labels, data.labels)
        print(f"{cmp['agreement']:.0%} of {cmp['n']} labels agree with the reference")
    """
    names, student, reference = (np.asarray(a) for a in (names, student, reference))
    both = (student != "") & (reference != "")
    s, r = student[both], reference[both]
    cm = np.zeros((len(CLASS_NAMES), len(CLASS_NAMES)), dtype=np.int64)
    index = {c: i for i, c in enumerate(CLASS_NAMES)}
    for a, b in zip(r, s):
        cm[index[a], index[b]] += 1
    diff = [(str(n), str(a), str(b)) for n, a, b in zip(names[both], r, s) if a != b]
    return {"n": int(both.sum()), "agreement": float(np.mean(s == r)) if len(s) else float("nan"),
            "confusion": cm, "disagreements": diff}


ORDERS = ("suggest", "shuffle", "name")


def choose_events(images: np.ndarray, labels: Sequence[str] | np.ndarray | None, n: int,
                  order: str = "suggest", seed: int = DEFAULT_SEED) -> np.ndarray:
    """Indices of the ``n`` unlabelled displays to label now, in a seeded random order.

    ``order``: ``"suggest"`` (default) takes what :mod:`eventcnn.opal.suggest` says
    to label next (a diverse first batch, then uncertain and rare-looking
    displays); ``"shuffle"``: a seeded random choice; ``"name"``: name order
    (not recommended: neighbours in name order tend to be of one class). The
    chosen events are always shown shuffled with ``seed``, so their order says
    nothing about their class. ``labels``: class codes so far ("" unlabelled).

    Example::

        idx = choose_events(data.images, data.labels, n=50, seed=0)
        session = LabelSession(data.names[idx], "my_labels.csv")
    """
    if order not in ORDERS:
        raise UserError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    if n < 1:
        raise UserError(f"n must be >= 1, got {n}")
    images = np.asarray(images)
    lab = np.full(len(images), "", dtype="<U1") if labels is None else np.asarray(labels)
    free = np.flatnonzero(lab == "")
    rng = np.random.default_rng(seed)
    if order == "suggest":

        step = max(1, images.shape[1] // 100)  # features need no more than ~100 px
        idx = suggest_indices(images[:, ::step, ::step], lab, n=n, seed=seed)
    elif order == "shuffle":
        idx = rng.permutation(free)[:n]
    else:
        idx = free[:n]
    return np.asarray(idx, dtype=np.int64)[rng.permutation(len(idx))]


def student_labels(session: LabelSession, names: Sequence[str], reference: Sequence[str], n_label: int,
                   demo: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The student's labels over ``names`` and, only in demo mode, reference labels for the missing ones.

    Returns ``(mine, demo_labels)``: arrays over ``names`` (``""`` = none).
    ``mine`` holds only what the student labelled in ``session``. With fewer
    than ``n_label`` labels a clear error says so, unless ``demo`` is True: then
    the missing ones of the session's events are taken from ``reference`` into
    ``demo_labels`` (never written to the label file, never counted in the
    agreement score) and this is said loudly.

    Example::

        mine, demo = student_labels(session, data.names, data.labels, n_label=30, demo=True)
    """
    by_id = dict(zip(display_ids(names), names))  # the session may name displays by opaque id
    table = {by_id.get(k, k): v for k, v in session.labels.items()}
    mine = np.array([table.get(n, "") for n in names], dtype="<U1")
    demo_labels = np.full(len(names), "", dtype="<U1")
    have = int((mine != "").sum())
    print(session.status())
    if have >= n_label:
        return mine, demo_labels
    if not demo:
        raise UserError(
            f"You labelled {have} of the {n_label} events (N_LABEL). Label the others in the "
            "labeller above (or lower N_LABEL in the parameters cell), then re-run this cell. "
            "For a demonstration without labelling set DEMO_LABELS = True in the parameters cell: "
            "the missing labels are then copied from the reference and marked as such.")
    ref = dict(zip(names, reference))
    index = {n: i for i, n in enumerate(names)}
    todo = [by_id.get(n, n) for n in session.names if by_id.get(n, n) not in table and by_id.get(n, n) in index]
    todo = todo[: n_label - have]
    for name in todo:
        demo_labels[index[name]] = ref[name]
    print(f"DEMO_LABELS: {len(todo)} of the {n_label} labels are REFERENCE labels, not yours. "
          "They are used for training only and left out of the agreement score.")
    return mine, demo_labels
