"""``eventcnn compare``: run folders side by side, every figure with its interval, paired differences.

For each run: its settings and test figures (``value [low, high]`` from its
``metrics.json``). Between runs: the paired difference of every figure of each
run against the reference run (the first one, or ``reference``) on the test
events both scored (``test_scores.csv``, matched by source file and event
number), with its own interval; runs scored on different events are said to
be so, with no difference computed. Runs that differ only in their seed are
summarised as mean +- spread over the seeds. Numpy only (no Keras).

Example::

    from eventcnn.learn.comparison import compare, compare_runs
    result = compare(["runs/small_s1", "runs/small_s2", "runs/vgg16"])
    result["paired"][0]["difference"]["auc"]      # {"value": ..., "ci95": [...]}
    print(compare_runs(["runs/a", "runs/b"], out="compare.md"))   # + compare.csv, compare.json
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import atomic_path, write_json_atomic, write_text_atomic
from eventcnn.errors import UserError, check_output
from eventcnn.learn.intervals import fmt, paired_metrics, seed_summaries, value_of
from eventcnn.learn.metrics import comparison_table
from eventcnn.learn.report import read_test_scores
from eventcnn.learn.runs import read_json, read_run_config

__all__ = ["COMPARE_COLUMNS", "FIGURE_COLUMNS", "compare", "compare_rows", "compare_runs"]

COMPARE_COLUMNS = ("run", "model", "freeze", "optimizer", "weights", "image_size", "epochs", "best_epoch",
                   "val_accuracy", "test_accuracy", "balanced_accuracy", "auc", "baseline_accuracy",
                   "baseline_auc", "train_seconds")
#: columns that are result figures (printed with their interval)
FIGURE_COLUMNS = ("test_accuracy", "balanced_accuracy", "auc", "baseline_accuracy", "baseline_auc")
#: settings that do not make two runs different experiments (seed groups ignore them)
_NOT_SETTINGS = {"seed", "out", "data_dir", "quiet", "workers", "cache", "cache_dir", "evaluate", "baseline",
                 "split_file"}


def _auc(m: Mapping[str, Any]) -> Any:
    return m.get("auc", (m.get("roc_auc") or {}).get("macro"))


def compare_rows(run_dirs: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """One row per run folder: settings and figures (``{"value", "ci95"}``, or a plain number of an old run).

    Example::

        rows = compare_rows(["runs/small", "runs/vgg16"])
    """
    rows = []
    for d in run_dirs:
        d = Path(d)
        raw = read_run_config(d, keys=("train",))
        t = raw["train"]
        state = read_json(d / "state.json", {})
        hist = read_json(d / "history.json", [])
        m = read_json(d / "metrics.json", {}) or {}
        b = m.get("baseline") or {}
        val = [h["val_accuracy"] for h in hist if isinstance(h.get("val_accuracy"), (int, float))]
        rows.append({
            "run": d.name, "model": t.get("model"), "freeze": t.get("freeze"), "optimizer": t.get("optimizer"),
            "weights": Path(str(t.get("weights"))).name if t.get("weights") else "none",
            "image_size": raw.get("image_size"), "epochs": state.get("epoch", len(hist)),
            "best_epoch": state.get("best_epoch"), "val_accuracy": max(val) if val else None,
            "test_accuracy": m.get("accuracy"), "balanced_accuracy": m.get("balanced_accuracy"),
            "auc": _auc(m), "baseline_accuracy": b.get("accuracy"), "baseline_auc": _auc(b),
            "train_seconds": state.get("train_seconds"),
        })
    return rows


def _settings_key(run_dir: Path) -> str:
    raw = read_run_config(run_dir, keys=("train",))
    settings = {k: v for k, v in raw["train"].items() if k not in _NOT_SETTINGS}
    return json.dumps({"kind": raw.get("kind", "cms"), "image_size": raw.get("image_size"), **settings},
                      sort_keys=True, default=str)


def _pair(ref: Path, other: Path, n_boot: int, seed: int) -> dict[str, Any]:
    """The paired difference ``other - ref`` on their common test events, or why there is none."""
    entry: dict[str, Any] = {"run": other.name, "reference": ref.name}
    a, b = read_test_scores(other), read_test_scores(ref)
    missing = [p.name for p, s in ((other, a), (ref, b)) if s is None]
    if a is None or b is None:
        entry["note"] = (f"no per-event test scores in {', '.join(missing)} (evaluated before test_scores.csv "
                         "existed): run `eventcnn evaluate` on it again for a paired difference")
        return entry
    if a.class_names != b.class_names:
        entry["note"] = f"different classes ({a.class_names} vs {b.class_names}): no paired difference"
        return entry
    common = sorted(set(a.keys) & set(b.keys))
    entry.update(n_run=len(a.keys), n_reference=len(b.keys), n_common=len(common),
                 same_events=set(a.keys) == set(b.keys))
    if not common:
        entry["note"] = "not scored on the same test events (no event in common): no paired difference"
        return entry
    ia, ib = {k: i for i, k in enumerate(a.keys)}, {k: i for i, k in enumerate(b.keys)}
    sa, sb = np.array([ia[k] for k in common]), np.array([ib[k] for k in common])
    if not np.array_equal(a.y[sa], b.y[sb]):
        entry["note"] = "the common events carry different true classes in the two runs: no paired difference"
        return entry
    entry["difference"] = paired_metrics(a.y[sa], a.models["cnn"][sa], b.models["cnn"][sb], a.class_names,
                                         n_boot=n_boot, seed=seed)
    if not entry["same_events"]:
        entry["note"] = (f"scored on different test sets: the difference uses the {len(common)} events both "
                         f"scored ({len(a.keys)} in {other.name}, {len(b.keys)} in {ref.name})")
    return entry


def compare(run_dirs: Sequence[str | os.PathLike[str]], reference: str | os.PathLike[str] | None = None,
            n_boot: int = 1000, seed: int = 42) -> dict[str, Any]:
    """The comparison as JSON: ``runs`` (rows), ``paired`` (each run minus the reference), ``seed_groups``.

    Example::

        c = compare(["runs/a", "runs/b"])
        c["paired"][0]["difference"]["accuracy"]
    """
    dirs = [Path(d) for d in run_dirs]
    if not dirs:
        raise UserError("no run folders to compare")
    ref = Path(reference) if reference is not None else dirs[0]
    if ref not in dirs:
        dirs = [ref, *dirs]
    rows = compare_rows(dirs)
    metrics = {d: read_json(d / "metrics.json", {}) or {} for d in dirs}
    paired = [_pair(ref, d, n_boot, seed) for d in dirs if d != ref] if len(dirs) > 1 else []
    groups: dict[str, list[Path]] = {}
    for d in dirs:
        groups.setdefault(_settings_key(d), []).append(d)
    seed_groups = []
    for members in groups.values():
        evaluated = [d for d in members if metrics[d].get("accuracy") is not None]
        if len(evaluated) > 1:
            seeds = [read_run_config(d, keys=("train",))["train"].get("seed") for d in evaluated]
            seed_groups.append({"runs": [d.name for d in evaluated], "seeds": seeds,
                                "figures": seed_summaries([metrics[d] for d in evaluated])})
    return {"reference": ref.name, "runs": rows, "paired": paired, "seed_groups": seed_groups,
            "figures": "each {value, ci95}: 95 % percentile bootstrap over test events, stratified by true class; "
                       "seed groups: {mean, std (ddof 1), n} over runs that differ only in their seed"}


def _text(result: Mapping[str, Any], digits: int = 4) -> str:
    rows = [{k: (fmt(v, digits) if k in FIGURE_COLUMNS else v) for k, v in r.items()} for r in result["runs"]]
    lines = [comparison_table(rows, COMPARE_COLUMNS, digits=digits), "",
             "Figures: value [95 % interval] (bootstrap over the test events, stratified by class)."]
    for p in result["paired"]:
        head = f"{p['run']} - {p['reference']}"
        if "difference" in p:
            d = p["difference"]
            lines.append(f"paired, {d['n']} events: {head}: accuracy {fmt(d.get('accuracy'), digits, True)}, "
                         f"AUC {fmt(_auc(d), digits, True)}" + (f" ({p['note']})" if p.get("note") else ""))
        else:
            lines.append(f"{head}: {p['note']}")
    for g in result["seed_groups"]:
        f = g["figures"]
        lines.append(f"seeds {g['seeds']} ({', '.join(g['runs'])}): accuracy {fmt(f.get('accuracy'), digits)}, "
                     f"AUC {fmt(_auc(f), digits)}")
    return "\n".join(lines)


def compare_runs(run_dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str] | None = None,
                 plot: str | os.PathLike[str] | None = None, *, json_out: str | os.PathLike[str] | None = None,
                 reference: str | os.PathLike[str] | None = None, overwrite: bool = False) -> str:
    """Markdown table and paired differences over run folders; ``out`` also writes ``.csv`` and ``.json`` beside it.

    The outputs are checked first (:func:`eventcnn.errors.check_output`): never inside a
    run folder; existing files are replaced only with ``overwrite``.

    Example::

        print(compare_runs(glob.glob("runs/*"), out="compare.md"))
    """
    runs = [("the run folder", r) for r in run_dirs]
    outputs: list[tuple[Path, str]] = []
    if out is not None:
        outputs += [(Path(out), "--out"), (Path(out).with_suffix(".csv"), "--out")]
        if json_out is None:
            json_out = Path(out).with_suffix(".json")
    if json_out is not None:
        outputs.append((Path(json_out), "--json"))
    if plot is not None:
        outputs.append((Path(plot), "--plot"))
    for path, flag in outputs:
        check_output(path, protected=runs, overwrite=overwrite, flag=flag)
    result = compare(run_dirs, reference=reference)
    text = _text(result)
    if out is not None:
        write_text_atomic(Path(out), text + "\n")
        write_text_atomic(Path(out).with_suffix(".csv"), _csv(result["runs"]))
    if json_out is not None:
        write_json_atomic(Path(json_out), result)
    if plot is not None:
        _plot(result["runs"], plot)
    return text


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    cols = [c for col in COMPARE_COLUMNS for c in
            ((col, f"{col}_low", f"{col}_high") if col in FIGURE_COLUMNS else (col,))]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        flat = {}
        for col in COMPARE_COLUMNS:
            v = r.get(col)
            if col in FIGURE_COLUMNS:
                ci = v.get("ci95", [None, None]) if isinstance(v, Mapping) else [None, None]
                flat.update({col: value_of(v), f"{col}_low": ci[0], f"{col}_high": ci[1]})
            else:
                flat[col] = v
        w.writerow(flat)
    return buf.getvalue()


def _plot(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> None:
    from matplotlib.figure import Figure

    x = np.arange(len(rows))
    fig = Figure(figsize=(max(5, len(rows) * 0.8 + 2), 4))
    ax = fig.subplots()
    for offset, col, label in ((-0.2, "test_accuracy", "test accuracy"), (0.2, "auc", "ROC AUC")):
        vals = np.array([value_of(r[col]) if value_of(r[col]) is not None else np.nan for r in rows])
        lo = np.array([(r[col].get("ci95") or [None])[0] if isinstance(r[col], Mapping) else None for r in rows],
                      dtype=float)
        hi = np.array([(r[col].get("ci95") or [None, None])[1] if isinstance(r[col], Mapping) else None
                       for r in rows], dtype=float)
        err = np.nan_to_num(np.vstack([vals - lo, hi - vals]), nan=0.0)
        ax.bar(x + offset, vals, 0.4, yerr=err, capsize=3, label=f"{label} (bars: 95 % interval)")
    ax.set_xticks(x, [r["run"] for r in rows], rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("figure on the test events")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
