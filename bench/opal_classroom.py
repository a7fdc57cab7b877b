"""The whole OPAL classroom flow, timed: fetch, label 50 suggested events, train, classify, overview.

Every step is the command a class runs, as a subprocess (fresh Python each, as
in a classroom), with its wall time and peak RSS (``os.wait4``):

1. ``eventcnn data fetch opal --out DIR --mirror MIRROR`` (from a local copy);
2. ``eventcnn data fetch opal --out DIR`` again, without the mirror (offline:
   uses the cached copy);
3. ``eventcnn opal label --n 50`` with the answers piped in by an oracle that
   knows the reference labels (it recomputes the same blind order with
   :func:`eventcnn.opal.labeller.choose_events`, outside the timing);
4. ``eventcnn opal train`` on those labels (classifies every other display,
   writes ``predictions.csv`` and ``overview.png``), ``--reference`` to score it.

Prints a table per step and the totals against the targets (10 minutes and
1.5 GB on a 2-core laptop) as ratios, and writes ``<out>/classroom.json``.

Usage (the run reported in docs/benchmarks.md)::

    python bench/opal_classroom.py --mirror ../shared/data --out runs/opal_classroom --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S, TARGET_GB = 600.0, 1.5


def run_step(name: str, args: list[str], stdin: str | None = None) -> dict:
    """Run ``python -m eventcnn ARGS``; wall time and peak RSS of that process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("EVENTCNN_DATA_MIRROR", None)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        proc = subprocess.Popen([sys.executable, "-m", "eventcnn", *args], env=env, cwd=ROOT,
                                stdin=subprocess.PIPE, stdout=fo, stderr=fe, text=True)
        proc.stdin.write(stdin or "")
        proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)  # rusage of this process alone
        proc.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read(), fe.read()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"eventcnn {' '.join(args)} failed:\n{err[-2000:]}")
    rss_gb = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024) / 1e9
    print(f"{name:28s} {wall:7.1f} s  peak RSS {rss_gb:5.2f} GB", flush=True)
    return {"step": name, "wall_s": wall, "peak_rss_gb": rss_gb, "stdout": out[-3000:],
            "stderr": err[-3000:]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mirror", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("runs/opal_classroom"))
    ap.add_argument("--n", type=int, default=50, help="events the class labels (default 50)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # this checkout's eventcnn, like the subprocesses

    import numpy as np

    from eventcnn import opal
    from eventcnn._io import write_json_atomic
    from eventcnn.opal import ids, labeller

    out = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    data_dir, labels, run = out / "data", out / "my_labels.csv", out / "run"
    zip_path = data_dir / "opal" / "centered-masked-rotated1.zip"
    steps = [run_step("fetch from the mirror", ["data", "fetch", "opal", "--out", str(data_dir),
                                                "--mirror", str(args.mirror)]),
             run_step("fetch again, no mirror", ["data", "fetch", "opal", "--out", str(data_dir)])]

    # the oracle: same blind order as the command (outside the timing), reference answers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = opal.load_displays(zip_path, data_dir / "opal" / "answer_key" / "events_list.csv", quiet=True)
    idx = labeller.choose_events(ref.images, None, args.n, order="suggest", seed=args.seed)
    answers = "".join(f"{c}\n" for c in ref.labels[idx])
    steps.append(run_step(f"label {args.n} suggested (oracle)",
                          ["opal", "label", "--data", str(zip_path), "--labels", str(labels),
                           "--n", str(args.n), "--seed", str(args.seed), "--window", "no"],
                          stdin=answers))
    got = dict(line.split(";") for line in labels.read_text().splitlines())
    assert len(got) == args.n and all(got[f"{ids.display_id(n)}.png"] == c  # the file holds opaque ids
                                      for n, c in zip(ref.names[idx], ref.labels[idx]))
    steps.append(run_step("train + classify the rest", [
        "opal", "train", "--data", str(zip_path), "--labels", str(labels), "--out", str(run),
        "--seed", str(args.seed), "--quiet", "--reference", str(data_dir / "opal" / "answer_key" / "events_list.csv")]))
    m = json.loads((run / "metrics.json").read_text())
    counts = {c: int(np.sum(ref.labels[idx] == c)) for c in opal.CLASS_NAMES}
    total = sum(s["wall_s"] for s in steps)
    peak = max(s["peak_rss_gb"] for s in steps)
    result = {"seed": args.seed, "n": args.n, "label_counts": counts, "total_wall_s": total,
              "peak_rss_gb": peak, "balanced_accuracy": m["balanced_accuracy"],
              "accuracy": m["accuracy"], "cpu_count": os.cpu_count(), "steps": steps,
              "overview_png": (run / "overview.png").is_file()}
    write_json_atomic(out / "classroom.json", result)
    print(f"\nlabels {counts}; against the reference: balanced accuracy "
          f"{m['balanced_accuracy']:.3f}, accuracy {m['accuracy']:.3f}")
    print(f"whole flow {total:.0f} s = {total / TARGET_S:.2f} x the {TARGET_S / 60:.0f}-minute target; "
          f"peak RSS {peak:.2f} GB = {peak / TARGET_GB:.2f} x the {TARGET_GB} GB target "
          f"({os.cpu_count()} CPUs; self RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB "
          "of this driver not counted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
