"""The main job: the whole pipeline on a built-in default, in minutes on a laptop CPU.

``eventcnn demo`` generates tt+jets, W+jets and Drell-Yan events with Pythia 8
(no download needed), selects events with at least one tight isolated lepton,
draws them as eta-phi images, trains a small CNN and the gradient-boosted
baseline on the same events, evaluates both on a held-out test set and writes
a report folder::

    demo_output/
      events/<class>.json.gz       generated events (CMS JSON schema)
      images/<class>/*.png         eta-phi images + manifest.csv
      run/                         config.json, history.json, best.keras, metrics.json, plots
      report.md, report.html       the summary, linking every plot
      kinematics.png, gallery.png
      occlusion.png                where the CNN looks in two test images (eventcnn explain)

Every stage keeps what an earlier (interrupted) run finished: re-running
resumes. ``--real`` uses the public CMS tt+jets and W+jets files instead of
generated events (``eventcnn data fetch cms`` first, or a mirror); ``--real nano``
the 2016 NanoAOD tt / W+jets / Drell-Yan files (first ``nano_events`` of each,
streamed, or from ``EVENTCNN_DATA_MIRROR``/nano).

Example::

    >>> from eventcnn.demo import DemoConfig, run_demo
    >>> result = run_demo(DemoConfig(out="demo_output"))     # doctest: +SKIP
"""

from __future__ import annotations

import html
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import atomic_path, write_json_atomic, write_text_atomic
from eventcnn.errors import UserError
from eventcnn.events import read_events
from eventcnn.events.generate import generate_to_file
from eventcnn.events.selection import get_selection
from eventcnn.events.sources import REGISTRY, fetch
from eventcnn.images.display import plot_gallery, plot_kinematics
from eventcnn.images.render import RenderConfig, render_to_dir
from eventcnn.learn.evaluate import evaluate_run  # light: Keras is imported when the run is read
from eventcnn.learn.intervals import fmt  # numpy only: every figure printed with its interval
from eventcnn.limits import (
    MAX_EPOCHS,
    MAX_EVENTS,
    check_batch_size,
    check_count,
    check_image_size,
    check_jobs,
)
from eventcnn.names import THREE_CLASS_LABELS
from eventcnn.seeds import DEFAULT_SEED

__all__ = ["DemoConfig", "occlusion_figure", "run_demo"]

GENERATED_CLASSES = THREE_CLASS_LABELS


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo; the defaults finish in well under 15 minutes on 2 CPU cores."""

    out: str = "demo_output"
    events: int = 3000  # generated events per class
    size: int = 64
    epochs: int = 30  # at most; early stopping on the validation loss (patience 5)
    batch_size: int = 64
    seed: int = DEFAULT_SEED
    jobs: int = 2
    real: bool = False  # public CMS tt+jets vs W+jets instead of generated events
    nano: bool = False  # with real: the 2016 NanoAOD tt / W / DY files (eventcnn.events.opendata)
    nano_events: int = 20000  # with nano: the first N events of each file (streamed)
    selection: str = "lepton"  # >= 1 tight isolated lepton (keeps Drell-Yan dileptons)
    quiet: bool = False

    def __post_init__(self) -> None:
        """Check every number up front, so a bad option fails before minutes of generation."""
        lows = {"events": 1, "size": 8, "epochs": 1, "batch_size": 1, "jobs": 1, "nano_events": 1}
        for name, low in lows.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                flag = name.replace("_", "-")
                raise UserError(f"{name} (--{flag}) must be a whole number of at least {low}, got {value!r}")
        check_image_size(self.size)
        check_count("--events", self.events, 1, MAX_EVENTS)
        check_count("--nano-events", self.nano_events, 1, MAX_EVENTS)
        check_count("--epochs", self.epochs, 1, MAX_EPOCHS)
        check_batch_size(self.batch_size)
        check_jobs(self.jobs)

    @classmethod
    def tiny(cls, **overrides: Any) -> DemoConfig:
        """A seconds-long configuration for tests and smoke runs."""
        base = cls(events=80, size=32, epochs=1, batch_size=16, jobs=1)
        return replace(base, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Stages:
    """Prints ``[k/n] stage`` banners with elapsed times."""

    def __init__(self, n: int, quiet: bool) -> None:
        self.n, self.k, self.quiet = n, 0, quiet
        self.t0 = time.perf_counter()
        self.times: dict[str, float] = {}
        self._name: str | None = None
        self._start = self.t0

    def start(self, name: str) -> None:
        self._close()
        self.k += 1
        self._name, self._start = name, time.perf_counter()
        if not self.quiet:
            print(f"\n[{self.k}/{self.n}] {name}", flush=True)

    def _close(self) -> None:
        if self._name is not None:
            self.times[self._name] = time.perf_counter() - self._start

    def finish(self) -> float:
        self._close()
        self._name = None
        return time.perf_counter() - self.t0


def _inputs(cfg: DemoConfig, out: Path, stages: _Stages) -> tuple[dict[str, Path], str]:
    """Class -> event file, generating what is missing; and the selection to use."""
    if cfg.real and cfg.nano:

        stages.start(f"fetching the first {cfg.nano_events} events of the 2016 CMS NanoAOD files (tt, W, DY)")
        paths = fetch("three-class", max_events=cfg.nano_events, quiet=cfg.quiet)
        labels = {s.key: s.label for s in REGISTRY if s.dataset == "nano"}
        return {labels[k]: Path(p) for k, p in paths.items()}, cfg.selection
    if cfg.real:

        stages.start("fetching the public CMS files (tt+jets, W+jets)")
        paths = fetch("cms", quiet=cfg.quiet)
        return {"ttjets": Path(paths["ttjets"]), "wjets": Path(paths["wjets"])}, "paper"

    stages.start(f"generating {cfg.events} events per class with Pythia 8 (tt+jets, W+jets, Drell-Yan)")
    files = {}
    for k, label in enumerate(GENERATED_CLASSES):
        path = out / "events" / f"{label}.json.gz"
        if path.exists():
            if not cfg.quiet:
                print(f"  {label}: {path} already generated")
        else:
            generate_to_file(label, cfg.events, path, seed=cfg.seed * 1000 + k, jobs=cfg.jobs,
                             quiet=cfg.quiet)
        files[label] = path
    return files, cfg.selection


def _check_out(out: Path, cfg: DemoConfig) -> None:
    """An output folder holds one demo configuration; a different one is a clear error."""
    import json

    stamp = out / "demo_config.json"
    if stamp.exists():
        old = json.loads(stamp.read_text())
        mine = cfg.to_dict()
        defaults = {f: getattr(DemoConfig, f, None) for f in mine}  # keys newer than the folder
        keys = [k for k in mine if k not in ("quiet", "jobs", "out") and old.get(k, defaults[k]) != mine[k]]
        if keys:
            raise UserError(
                f"{out} holds a demo run with other settings ({', '.join(keys)}); "
                "choose another --out folder or delete it"
            )
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(stamp, cfg.to_dict())


def run_demo(cfg: DemoConfig | None = None) -> dict[str, Any]:
    """Run the whole pipeline; returns the summary (also written to ``report.md``/``.html``)."""
    cfg = cfg or DemoConfig()
    out = Path(cfg.out)
    _check_out(out, cfg)
    quiet = cfg.quiet
    stages = _Stages(5 if not cfg.real else 5, quiet)

    inputs, selection = _inputs(cfg, out, stages)


    stages.start(f"selecting ({selection}) and drawing {cfg.size}x{cfg.size} eta-phi images")
    images = out / "images"
    summary = render_to_dir([(p, label) for label, p in inputs.items()], images,
                            RenderConfig(size=cfg.size), selection=selection,
                            jobs=cfg.jobs, quiet=quiet)
    sel = get_selection(selection)
    samples = {label: (sel.apply(read_events(p))[0] if sel else read_events(p)) for label, p in inputs.items()}
    if not quiet:
        for table in summary.cutflows:
            print(table, end="\n\n")
        print(summary.table())
    plot_kinematics(samples, out / "kinematics.png")
    plot_gallery(images, per_class=6, seed=cfg.seed, path=out / "gallery.png")
    too_few = {k: v for k, v in summary.selected.items() if v < 10}
    if too_few:
        raise UserError(f"too few selected events to train on: {too_few}; generate more (--events)")

    stages.start(f"training a small CNN (at most {cfg.epochs} epochs) on the images")
    from eventcnn.learn.train import (  # deferred: Keras only once training starts (the CLI reads DemoConfig)
        TrainConfig,
        train,
    )

    run_dir = out / "run"
    tcfg = TrainConfig(
        data_dir=str(images), out=str(run_dir), model="small", weights=None,
        epochs=cfg.epochs, size=cfg.size, batch_size=cfg.batch_size, seed=cfg.seed,
        lr=1e-3, schedule="cosine", patience=5, evaluate=False, baseline=False, quiet=quiet,
    )
    run = train(tcfg)

    stages.start("evaluating the CNN and the gradient-boosted baseline on the held-out test set")
    metrics = evaluate_run(run_dir, baseline=True, quiet=quiet)

    stages.start("writing the report (with occlusion maps of two test images)")
    occlusion = occlusion_figure(run_dir, images, out / OCCLUSION_PNG)
    total = stages.finish()
    result = _summary(cfg, summary, metrics, run, stages.times, total)
    if occlusion is not None:
        result["plots"][OCCLUSION_TITLE] = OCCLUSION_PNG
    write_json_atomic(out / "summary.json", result)
    write_text_atomic(out / "report.md", _markdown(result, out))
    write_text_atomic(out / "report.html", _html(result, out))
    print("\n" + _results_table(result))
    print(f"\nreport: {out / 'report.md'} (and report.html); total {total / 60:.1f} min")
    return result


#: the occlusion figure of the report and its heading there
OCCLUSION_PNG = "occlusion.png"
OCCLUSION_TITLE = "what the CNN looks at: occlusion maps (eventcnn explain)"


def occlusion_figure(run_dir: str | os.PathLike[str], images_dir: str | os.PathLike[str],
                     path: str | os.PathLike[str], n: int = 2) -> Path | None:
    """Occlusion maps (:mod:`eventcnn.learn.explain`) of ``n`` test images of the run, side by side, as one PNG.

    The first test image (``split.json``) of each of the first ``n`` classes;
    red where covering the image lowers the probability of the predicted class.
    Returns the PNG (written atomically), or None when the test split is empty.

    Example::

        occlusion_figure("demo_output/run", "demo_output/images", "demo_output/occlusion.png")
    """
    from matplotlib.figure import Figure

    from eventcnn.learn import explain  # deferred: Keras (demo.py stays light for the CLI)
    from eventcnn.learn.dataset import (  # deferred: Keras, as above
        load_split,
        read_image,
        split_arrays,
    )

    model, names, size = explain.load_explainable(run_dir)
    split = load_split(Path(run_dir) / "split.json")
    files, y = split_arrays(split, "test", images_dir)
    picks = [int(np.flatnonzero(y == k)[0]) for k in sorted(set(y.tolist()))][:n]
    if not picks:
        return None
    fig = Figure(figsize=(5.2 * len(picks), 5.4))
    panels = []
    for j in picks:
        image = read_image(files[j], size)
        probs = np.asarray(model.predict_on_batch(image[None]))[0]
        k = int(probs.argmax())
        panels.append((j, image, probs, k, explain.occlusion_map(model, image, target=k)))
    scale = explain.shared_scale([p[-1] for p in panels])  # one colour scale across the panels
    for i, (j, image, probs, k, heat) in enumerate(panels):
        true = explain.CMS_WORDS.get(split["class_names"][y[j]].lower(), split["class_names"][y[j]])
        explain.plot_occlusion(image, heat, ax=fig.add_subplot(1, len(picks), i + 1), scale=scale,
                               title=f"{files[j].name}: true {true}\npredicted {names[k]}, p = {probs[k]:.2f}")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
    return Path(path)


def _summary(cfg, summary, metrics, run, times, total) -> dict[str, Any]:
    base = metrics.get("baseline") or {}
    row = {
        "CNN (small, images)": _scores(metrics),
        "gradient-boosted trees (high-level features)": _scores(base) if "accuracy" in base else None,
    }
    if metrics.get("cnn_minus_baseline"):  # the same test events: the paired difference with its interval
        row["CNN - trees (paired, same events)"] = {**_scores(metrics["cnn_minus_baseline"]), "signed": True}
    return {
        "config": cfg.to_dict(),
        "classes": metrics["class_names"],
        "events_selected": summary.selected,
        "test_events": metrics["n"],
        "results": row,
        "per_class_recall": {k: v["recall"] for k, v in metrics["per_class"].items()},
        "baseline_note": base.get("skipped"),
        "best_epoch": metrics.get("best_epoch"),
        "epochs_run": len(run.history),
        "stage_seconds": {k: round(v, 1) for k, v in times.items()},
        "total_seconds": round(total, 1),
        "plots": {
            "kinematics": "kinematics.png",
            "gallery": "gallery.png",
            **{k: f"run/{v}" for k, v in metrics.get("plots", {}).items()},
            "learning curves": "run/learning_curves.png",
        },
    }


def _scores(m: dict[str, Any]) -> dict[str, float | None]:
    return {"accuracy": m.get("accuracy"), "balanced accuracy": m.get("balanced_accuracy"),
            "macro ROC AUC": (m.get("roc_auc") or {}).get("macro")}


def _fmt(x: Any, signed: bool = False) -> str:
    """A figure with its interval (``0.954 [0.930, 0.972]``): a result is never printed without one."""
    return fmt(x, 3, signed=signed)


def _results_table(result: dict[str, Any]) -> str:
    cols = ["accuracy", "balanced accuracy", "macro ROC AUC"]
    rows = [["classifier", *cols]]
    for name, s in result["results"].items():
        rows.append([name, *(_fmt(s.get(c), s.get("signed", False)) if s else "–" for c in cols)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols) + 1)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    head = (f"classes: {', '.join(result['classes'])}; test events: {result['test_events']}; "
            f"selected events: {result['events_selected']}")
    return head + "\n" + "\n".join(lines)


def _markdown(result: dict[str, Any], out: Path) -> str:
    cfg = result["config"]
    source = "public CMS open data (tt+jets, W+jets)" if cfg["real"] else "events generated with Pythia 8"
    if cfg["real"] and cfg.get("nano"):
        source = "public CMS 2016 NanoAOD (tt semileptonic, W+jets, Drell-Yan)"
    lines = [
        "# eventcnn demo report", "",
        f"Data: {source}; selection `{'paper' if cfg['real'] and not cfg.get('nano') else cfg['selection']}`; "
        f"{cfg['size']}x{cfg['size']} eta-phi images; small CNN, {result['epochs_run']} epochs "
        f"(best epoch {result['best_epoch']}); seed {cfg['seed']}.", "",
        "## Results on the held-out test set", "",
        "| classifier | accuracy | balanced accuracy | macro ROC AUC |", "|---|---|---|---|",
    ]
    for name, s in result["results"].items():
        cells = [_fmt(s.get(c), s.get("signed", False)) if s else "–"
                 for c in ("accuracy", "balanced accuracy", "macro ROC AUC")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if result.get("baseline_note"):
        lines += ["", f"Baseline: {result['baseline_note']}"]
    lines += ["", "Figures: value [95 % interval], bootstrap over the test events (stratified by class).",
              "", "CNN efficiency (recall) per class: "
              + ", ".join(f"{k} {_fmt(v)}" for k, v in result["per_class_recall"].items()),
              "", "## Time per stage", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result["stage_seconds"].items()]
    lines += [f"| **total** | {result['total_seconds']} |", "", "## Plots", ""]
    for name, rel in result["plots"].items():
        if rel and (out / rel).exists():
            lines += [f"### {name}", "", f"![{name}]({rel})", ""]
    return "\n".join(lines) + "\n"


def _html(result: dict[str, Any], out: Path) -> str:
    rows = "".join(
        "<tr><td>{}</td>{}</tr>".format(
            html.escape(name),
            "".join(f"<td>{html.escape(_fmt(s.get(c), s.get('signed', False))) if s else '–'}</td>"
                    for c in ("accuracy", "balanced accuracy", "macro ROC AUC")))
        for name, s in result["results"].items()
    )
    figs = "".join(
        f"<figure><img src='{html.escape(rel)}' style='max-width:720px'><figcaption>{html.escape(name)}"
        "</figcaption></figure>"
        for name, rel in result["plots"].items() if rel and (out / rel).exists()
    )
    stages = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in result["stage_seconds"].items())
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>eventcnn demo report</title>"
        "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto}"
        "td,th{padding:4px 10px;border-bottom:1px solid #ddd}</style></head><body>"
        "<h1>eventcnn demo report</h1>"
        f"<p>Classes: {html.escape(', '.join(result['classes']))}; test events: {result['test_events']}.</p>"
        "<table><tr><th>classifier</th><th>accuracy</th><th>balanced accuracy</th><th>macro ROC AUC</th></tr>"
        f"{rows}</table><h2>Time per stage (s)</h2><table>{stages}"
        f"<tr><td><b>total</b></td><td>{result['total_seconds']}</td></tr></table>"
        f"<h2>Plots</h2>{figs}</body></html>\n"
    )


def default_jobs() -> int:
    """Parallel processes for generation and rendering: the CPU count, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))
