"""The classroom's training job alone ("Train now"), timed per stage and scored against the answer key.

Runs ``python -m eventcnn.opal.lesson_job`` as ``eventcnn class serve`` does (a
child process at ``nice 10``, the plan written into the run folder), on the class
labels that a simulated class gives: the displays ``opal suggest`` hands out
(``--students`` x 10 / 2, the server's choice and seed), two votes per display,
each the answer key with one answer in ten changed and one in twenty skipped
(``--label-seed``), the class's label = the majority (ties: none), as
``bench/class_load.py``'s students. The same class labels for every training
seed and every setting, so settings compare on equal footing.

Per run: the wall time of every stage (the job's progress lines, timestamped
here), the CPU seconds of the job and its children (``os.wait4``), the CNN
against the answer key on the displays nobody labelled (balanced accuracy with
its bootstrap interval, accuracy) and the class's measured fractions (corrected
with the held-out confusion, :func:`eventcnn.opal.web.results.lesson_results`)
beside the true fractions. Over the seeds: mean +- std (``eventcnn.stats.seed_summary``).
With ``--baseline-settings`` a reference setting runs on the same seeds in the
same run, and the ratios of the times are printed.

Run (2-core CPU; needs ../shared/data)::

    PYTHONPATH=. nice -n 5 python bench/lesson_job.py --seeds 43 44 45 --settings '{"epochs": 4}' \
        --baseline-settings '{"epochs": 12, "learning_rate": 3e-5}'     # the lesson before issue 34's work
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EVENTCNN_SHARED_DATA", ROOT.parent / "shared" / "data")) / "opal"
OUT = ROOT / "bench" / "_out"
PREFIX = "@@eventcnn-class "


def class_labels(data: Path, truth: dict[str, str], students: int, label_seed: int) -> dict[str, str]:
    """The class's label per event name: the server's pool, two noisy votes each, the majority."""
    from eventcnn.opal.web.assign import choose_pool
    from eventcnn.opal.web.settings import LessonSettings
    from eventcnn.opal.web.store import majority

    settings = LessonSettings(students=students)
    pool = choose_pool(data, n=int(settings.n or 1), seed=settings.seed)
    rng = np.random.default_rng(label_seed)

    def vote(label: str) -> str:
        u = rng.random()
        if u < 0.05:
            return "skip"
        if u < 0.15:
            return str(rng.choice([c for c in "qemt" if c != label]))
        return label

    out = {n: majority([vote(truth[n]) for _ in range(settings.overlap)]) for n in pool}
    return {n: c for n, c in out.items() if c}


def run_job(data: Path, labels: dict[str, str], seed: int, settings: dict, out: Path) -> dict:
    """One training as the server runs it: stage times, CPU seconds, lesson.json."""
    from eventcnn.opal.ids import display_ids

    names = list(labels)
    plan = {"labels": dict(zip(display_ids(names), (labels[n] for n in names))), "seed": seed,
            "settings": settings, "n_unsure": 6, "n_occlusion": 3}
    out.mkdir(parents=True, exist_ok=True)
    (out / "lesson_plan.json").write_text(json.dumps(plan))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EVENTCNN_QUIET": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    t0 = time.perf_counter()
    stages: list[tuple[str, float]] = []
    with open(out / "class_training.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "eventcnn.opal.lesson_job", "--data", str(data),
                                 "--plan", str(out / "lesson_plan.json"), "--out", str(out)],
                                stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(PREFIX):
                msg = json.loads(line[len(PREFIX):])
                name = msg.get("stage") or ("done" if "done" in msg else "error")
                if name == "epoch":
                    name = f"epoch {msg['args']['epoch']}"
                stages.append((name, round(time.perf_counter() - t0, 1)))
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"the job failed: {(out / 'class_training.log').read_text()[-3000:]}")
    cpu = usage.ru_utime + usage.ru_stime  # with the simulation process it waited for
    lesson = json.loads((out / "lesson.json").read_text())
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024),
            "stages": stages, "lesson": lesson}


def score(lesson: dict, truth_by_id: dict[str, str], labels_by_id: dict[str, str]) -> dict:
    """The CNN against the key on what was measured; the class's corrected fractions."""
    from eventcnn.opal.web.results import lesson_results
    from eventcnn.stats import balanced_accuracy, bootstrap

    res = lesson_results(lesson, truth_by_id, labels_by_id)
    ref = res["reference"]
    meas = (res.get("measurement") or {}).get("fractions", {})
    unseen = [(truth_by_id[i], p) for i, p in lesson["measured"]] + [(truth_by_id[i], p) for i, _, p in lesson["heldout"]]
    true, pred = np.array([t for t, _ in unseen]), np.array([p for _, p in unseen])
    return {"balanced_accuracy": ref["cnn_balanced_accuracy"], "accuracy": ref["cnn_vs_key"]["value"],
            "confusion_measured": ref["confusion_cnn_vs_key"],  # key x CNN, q e m t
            # every display the CNN never trained on (the held-out class labels too): more leptons, less noise
            "balanced_accuracy_unseen": bootstrap(balanced_accuracy, true, pred, seed=42).to_json(),
            "fractions": {c: {"value": round(f["value"], 4), "stat": round(f["stat"], 4)} for c, f in meas.items()},
            "true_fractions": {c: round(v, 4) for c, v in ref["true_fractions"].items()},
            "epochs": len(lesson["history"]), "best_epoch": lesson["best_epoch"], "job_seconds": lesson["seconds"]}


def summarise(rows: list[dict]) -> dict:
    from eventcnn.stats import seed_summary

    out = {"balanced_accuracy": seed_summary([r["score"]["balanced_accuracy"]["value"] for r in rows]),
           "balanced_accuracy_unseen": seed_summary([r["score"]["balanced_accuracy_unseen"]["value"] for r in rows]),
           "accuracy": seed_summary([r["score"]["accuracy"] for r in rows]),
           "wall_s": seed_summary([r["wall_s"] for r in rows]), "cpu_s": seed_summary([r["cpu_s"] for r in rows])}
    for c in "qemt":
        vals = [r["score"]["fractions"][c]["value"] for r in rows if c in r["score"]["fractions"]]
        if vals:
            out[f"fraction_{c}"] = seed_summary(vals)
    return out


def _ci(e: dict) -> str:
    return f"[{e['ci95'][0]:.3f}, {e['ci95'][1]:.3f}]"


def fmt(s: dict, digits: int = 3) -> str:
    return f"{s['mean']:.{digits}f} +- {s['std']:.{digits}f}" if s["n"] > 1 else f"{s['mean']:.{digits}f}"


def run_setting(name: str, args, data: Path, labels: dict, truth_id: dict, labels_id: dict, settings: dict,
                tmp: Path) -> dict:
    rows = []
    for seed in args.seeds:
        l0 = round(os.getloadavg()[0], 1)
        r = run_job(data, labels, seed, settings, tmp / f"{name}_{seed}")
        r["load"] = [l0, round(os.getloadavg()[0], 1)]
        r["score"] = score(r.pop("lesson"), truth_id, labels_id)
        rows.append(r)
        s = r["score"]
        print(f"[{name}] seed {seed}: wall {r['wall_s']:.0f} s, CPU {r['cpu_s']:.0f} s, peak {r['peak_rss_mib']} MiB, "
              f"load {r['load'][0]}-{r['load'][1]}; {s['epochs']} epochs (kept {s['best_epoch']}); "
              f"balanced accuracy {s['balanced_accuracy']['value']:.3f} {_ci(s['balanced_accuracy'])} (all not "
              f"trained on: {s['balanced_accuracy_unseen']['value']:.3f} {_ci(s['balanced_accuracy_unseen'])}), "
              f"accuracy {s['accuracy']:.3f}; fractions "
              + ", ".join(f"{c} {f['value']:.3f}+-{f['stat']:.3f}" for c, f in s["fractions"].items()), flush=True)
        print("   stages: " + ", ".join(f"{n} {t:.1f}" for n, t in r["stages"]), flush=True)
    summary = summarise(rows)
    print(f"[{name}] {json.dumps(settings)} over seeds {args.seeds}: balanced accuracy {fmt(summary['balanced_accuracy'])} "
          f"(all not trained on {fmt(summary['balanced_accuracy_unseen'])}), "
          f"accuracy {fmt(summary['accuracy'])}, wall {fmt(summary['wall_s'], 0)} s, CPU {fmt(summary['cpu_s'], 0)} s",
          flush=True)
    return {"settings": settings, "runs": rows, "summary": summary}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(SHARED / "centered-masked-rotated1.zip"))
    p.add_argument("--reference", default=str(SHARED / "events_list.csv"), help="the answer key")
    p.add_argument("--students", type=int, default=30)
    p.add_argument("--label-seed", type=int, default=0, help="the simulated class's answers")
    p.add_argument("--seeds", type=int, nargs="+", default=[43], help="training seeds (the server uses --seed + 1)")
    p.add_argument("--settings", default="{}", help="JSON: the plan's settings (class serve's: {'epochs': N})")
    p.add_argument("--baseline-settings", default=None, help="JSON: a reference setting, same seeds, same run")
    p.add_argument("--out", default=str(OUT / "lesson_job.json"))
    args = p.parse_args()
    data = Path(args.data)
    if not data.is_file():
        sys.exit(f"{data} not found: this benchmark needs the shared OPAL displays")
    from eventcnn.opal import read_labels
    from eventcnn.opal.ids import display_ids

    truth = {k[:-4]: v for k, v in read_labels(args.reference).items()}
    labels = class_labels(data, truth, args.students, args.label_seed)
    truth_id = dict(zip(display_ids(list(truth)), truth.values()))
    labels_id = dict(zip(display_ids(list(labels)), labels.values()))
    wrong = sum(truth[n] != c for n, c in labels.items())
    print(f"class labels: {len(labels)} ({dict(Counter(labels.values()))}), {wrong} differ from the key", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="lesson_job_"))
    results: dict = {"machine": f"{os.cpu_count()} CPUs", "labels": len(labels), "labels_wrong": wrong,
                     "seeds": args.seeds}
    results["new"] = run_setting("new", args, data, labels, truth_id, labels_id, json.loads(args.settings), tmp)
    if args.baseline_settings:
        results["baseline"] = run_setting("baseline", args, data, labels, truth_id, labels_id,
                                          json.loads(args.baseline_settings), tmp)
        n, b = results["new"]["summary"], results["baseline"]["summary"]
        print(f"ratio new/baseline: wall {n['wall_s']['mean'] / b['wall_s']['mean']:.2f}, "
              f"CPU {n['cpu_s']['mean'] / b['cpu_s']['mean']:.2f}; balanced accuracy new {fmt(n['balanced_accuracy'])} "
              f"vs baseline {fmt(b['balanced_accuracy'])}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"-> {args.out}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
