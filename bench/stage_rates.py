"""Event rates per stage, per core (the way the Analysis Grand Challenge reports them), printed and as JSON.

Stages, each measured in a fresh process with one thread (numpy/BLAS, ONNX Runtime
and TensorFlow all told to use 1 thread), on the real development CMS events
(``../shared/data/cms``: tt+jets and W+jets, tiled with unique event numbers):

- ``read+select``: CMS JSON (``read_json_events`` + the paper selection) and NanoAOD
  (``iter_events`` in chunks + the selection), events read per second;
- ``render``: the selected events as 64 px paper-style images (``render_events``,
  vectorised), images/s, against the former per-event PIL drawing in the same process;
- ``inference``: the small CNN at 64 px on those images, ONNX Runtime vs Keras on
  TensorFlow (``model.predict``), the same model and batch, images/s and their ratio;
- ``file to score``: ``eventcnn predict --model`` in-process (session made before the clock
  starts): events read per second from a JSON file and from a 1M-event NanoAOD file, steady,
  with the process's peak memory (VmHWM);
- ``start-up``: a fresh ``eventcnn predict --model model.onnx`` process on a 100-event file, to
  its exit (imports, session, read, render, first score, CSV), median of 3.

The model: ``--onnx FILE`` (an export), or ``--run RUN`` (exported here), or else a small CNN
trained for one epoch here on the rendered development events (its weights do not change
the rates). Writes ``--json`` (default ``bench/_out/stage_rates.json``).

Usage::

    python bench/stage_rates.py --run runs/small64 [--events 35000] [--big-events 1000000] [--skip-big]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EVENTCNN_SHARED_DATA", ROOT.parent / "shared" / "data")) / "cms"
JSONS = [DATA / "TTjets_json.json", DATA / "Wjets_json.json"]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
              "EVENTCNN_QUIET": "1"}

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
stage, args = sys.argv[2], json.loads(sys.argv[3])
import numpy as np

def peak_mb():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024

def selected_events(path, n=None):
    from eventcnn.events import read_events
    from eventcnn.events.selection import Selection
    ev, _ = Selection().apply(read_events(path))
    return ev if n is None else ev[np.arange(n) % len(ev)]

out = {"stage": stage}
if stage == "read-json":
    from eventcnn.events.cms_json import read_json_events
    from eventcnn.events.selection import Selection
    t, c = time.perf_counter(), time.process_time()
    ev = read_json_events(args["path"]); kept = len(Selection().apply(ev)[0])
    out.update(events=len(ev), selected=kept, seconds=time.perf_counter() - t, cpu=time.process_time() - c)
elif stage == "read-nano":
    from eventcnn.events.nanoaod import iter_events
    from eventcnn.events.selection import Selection
    sel, n, kept = Selection(), 0, 0
    t, c = time.perf_counter(), time.process_time()
    for chunk in iter_events(args["path"], step_size=args["chunk"], quiet=True):
        n += len(chunk); kept += len(sel.apply(chunk)[0])
    out.update(events=n, selected=kept, seconds=time.perf_counter() - t, cpu=time.process_time() - c)
elif stage == "render":
    from eventcnn.images.etaphi import RenderConfig, diameters, draw_image, event_shapes, render_events
    ev = selected_events(args["path"], args["images"])
    cfg = RenderConfig(size=args["size"])
    render_events(ev[:64], cfg)
    t, c = time.perf_counter(), time.process_time()
    for i in range(0, len(ev), args["chunk"]):
        render_events(ev[i:i + args["chunk"]], cfg)
    fast, fast_cpu = time.perf_counter() - t, time.process_time() - c
    ref = ev[: args["ref_images"]]
    t, c = time.perf_counter(), time.process_time()
    shapes = event_shapes(ref, cfg); diam = diameters(shapes.pt, cfg)
    for i in range(len(ref)):
        draw_image(shapes, i, cfg, diam)
    slow, slow_cpu = time.perf_counter() - t, time.process_time() - c
    out.update(images=len(ev), seconds=fast, cpu=fast_cpu, ref_images=len(ref), ref_seconds=slow, ref_cpu=slow_cpu)
elif stage in ("infer-ort", "infer-keras"):
    from eventcnn.images.render import RenderConfig, render_events
    x = render_events(selected_events(args["path"], args["images"]), RenderConfig(size=args["size"]))
    b = args["batch"]
    if stage == "infer-ort":
        from eventcnn.learn.onnx_runtime import OnnxClassifier
        clf = OnnxClassifier(args["onnx"], threads=1)
        run = lambda a: clf.predict(a, batch_size=b)
    else:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        from eventcnn.learn.runs import load_keras_file
        model = load_keras_file(args["keras"])
        run = lambda a: model.predict(a, batch_size=b, verbose=0)
    run(x[:b])
    best = best_cpu = None
    for _ in range(args["rounds"]):
        t, c = time.perf_counter(), time.process_time()
        run(x)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        best = dt if best is None else min(best, dt)
        best_cpu = dc if best_cpu is None else min(best_cpu, dc)
    out.update(images=len(x), seconds=best, cpu=best_cpu, batch=b)
elif stage == "file-to-score":
    from eventcnn.learn.onnx_runtime import OnnxClassifier
    from eventcnn.learn.scoring import expand_inputs, predict_inputs
    clf = OnnxClassifier(args["onnx"], threads=1)
    pre = clf.card["preprocessing"]
    t, c = time.perf_counter(), time.process_time()
    images, events = expand_inputs([args["path"]])
    rows = predict_inputs(lambda x: clf.predict(x, args["batch"]), images, events, clf.class_names, clf.size,
                          render_config=pre["render_config"], selection=pre.get("selection", "paper"),
                          out=args["csv"], quiet=True)
    dt, dc = time.perf_counter() - t, time.process_time() - c
    scored = sum(1 for b in rows._blocks for _ in range(len(b.prob)))
    out.update(events=len(rows), scored=scored, seconds=dt, cpu=dc)
out["peak_rss_mb"] = peak_mb()
print(json.dumps(out))
"""


def child(stage: str, **args) -> dict:
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), stage, json.dumps(args)], env=env,
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"stage {stage} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def startup(onnx: Path, small: Path, out_csv: Path, repeats: int = 3) -> dict:
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    import resource

    times, cpus = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "eventcnn", "predict", "--model", str(onnx), str(small), "--out",
                        str(out_csv), "--overwrite", "--quiet", "--threads", "1"], env=env, check=True,
                       capture_output=True)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return {"stage": "start-up", "seconds": statistics.median(times), "all_seconds": times,
            "cpu_seconds": statistics.median(cpus)}


def build_data(work: Path, n_json: int, n_big: int, chunk: int) -> tuple[Path, Path, Path | None]:
    import numpy as np

    from eventcnn.events import concat_events, read_events, write_events

    base = concat_events([read_events(p) for p in JSONS])
    order = np.argsort(np.r_[np.arange(0, 2 * 3500, 2)[:3500], np.arange(1, 2 * 3497, 2)[:3497]], kind="stable")
    base = base[order]  # tt and W events alternate, as in a mixed file

    def tiled(n: int):
        ev = base[np.arange(n) % len(base)]
        return ev.__class__(**{**ev.__dict__, "event": np.arange(n)})

    small, tiled_json = work / "small.json", work / f"tiled_{n_json}.json"
    if not small.exists():
        write_events(small, tiled(100))
    if not tiled_json.exists():
        write_events(tiled_json, tiled(n_json))
    big = None
    if n_big:
        from eventcnn.events.nanoaod_write import write_nanoaod

        big = work / f"big_{n_big}.root"
        if not big.exists():
            write_nanoaod(big, tiled(n_big))  # a NanoAOD TTree written in steps of 200,000 events
    return small, tiled_json, big


def model_files(args: argparse.Namespace, work: Path) -> tuple[Path, Path | None]:
    """The ONNX model (and the .keras it came from, for the Keras reference)."""
    if args.onnx:
        return Path(args.onnx), (Path(args.keras) if args.keras else None)
    from eventcnn.learn.export import export_run

    run = Path(args.run) if args.run else work / "run"
    if not args.run and not (run / "best.keras").exists():
        from eventcnn.images.render import RenderConfig, render_to_dir
        from eventcnn.learn.train import TrainConfig, train

        render_to_dir([(JSONS[0], "ttjets"), (JSONS[1], "wjets")], work / "images", RenderConfig(size=args.size),
                      selection="paper", quiet=True)
        train(TrainConfig(work / "images", run, model="small", epochs=1, quiet=True, baseline=False))
    onnx = work / "model.onnx"
    export_run(run, onnx, overwrite=True, quiet=True)
    return onnx, run / "best.keras"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default=None, help="a trained CMS run folder at 64 px (exported here)")
    p.add_argument("--onnx", default=None, help="an exported model instead of --run")
    p.add_argument("--keras", default=None, help="with --onnx: the .keras file for the Keras reference")
    p.add_argument("--events", type=int, default=35_000, help="events of the tiled JSON file")
    p.add_argument("--big-events", type=int, default=1_000_000, help="events of the NanoAOD file (0: skip)")
    p.add_argument("--images", type=int, default=4096, help="images for the render and inference stages")
    p.add_argument("--batch", type=int, default=64, help="inference batch, the same for both runtimes")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/eventcnn-stage-rates"))
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "_out" / "stage_rates.json")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    missing = [f for f in JSONS if not f.exists()]
    if missing:
        raise SystemExit(f"needs the development data: {missing[0]} not found (EVENTCNN_SHARED_DATA)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()
    onnx, keras_file = model_files(args, args.workdir)
    small, tiled, big = build_data(args.workdir, args.events, args.big_events, 2048)
    src = str(JSONS[0])
    rows = [child("read-json", path=str(tiled)),
            *([child("read-nano", path=str(big), chunk=2048)] if big else []),
            child("render", path=src, images=args.images, size=args.size, chunk=2048, ref_images=1000),
            child("infer-ort", path=src, images=args.images, size=args.size, batch=args.batch, onnx=str(onnx),
                  rounds=3),
            *([child("infer-keras", path=src, images=args.images, size=args.size, batch=args.batch,
                     keras=str(keras_file), rounds=3)] if keras_file else []),
            child("file-to-score", path=str(tiled), onnx=str(onnx), csv=str(args.workdir / "tiled.csv"),
                  batch=args.batch),
            *([child("file-to-score", path=str(big), onnx=str(onnx), csv=str(args.workdir / "big.csv"),
                     batch=args.batch)] if big else []),
            startup(onnx, small, args.workdir / "small.csv")]
    load1 = os.getloadavg()
    report = _report(rows, args, load0, load1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    return 0


def _report(rows: list[dict], args: argparse.Namespace, load0: tuple, load1: tuple) -> dict:
    by = {}
    for r in rows:
        r["stage"] + (":nano" if r.get("path", "").endswith(".root") else "")
        by.setdefault(r["stage"], []).append(r)
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
               f"{load0[0]:.1f} -> {load1[0]:.1f} (1 min)")
    print(f"machine: {machine}; every stage in its own process with 1 thread; 'per CPU s': the stage's count "
          "divided by the CPU time its process got (the per-core rate on a shared machine)\n")
    print(f"{'stage':<34} {'wall':>10} {'per CPU s':>10} {'unit':<5} notes")
    out = {"machine": machine, "threads": 1, "size": args.size, "batch": args.batch, "stages": {}}

    def line(name: str, rate: float, unit: str, note: str = "", cpu_rate: float | None = None, **extra) -> None:
        cpu = f"{cpu_rate:>10,.0f}" if cpu_rate else " " * 10
        print(f"{name:<34} {rate:>10,.0f} {cpu} {unit:<5} {note}")
        out["stages"][name] = {"rate": rate, "rate_per_cpu_second": cpu_rate, "unit": unit, "note": note, **extra}

    rj = by["read-json"][0]
    line("read+select JSON", rj["events"] / rj["seconds"], "ev/s", f"{rj['events']:,} events, {rj['selected']:,} pass",
         rj["events"] / rj["cpu"])
    if "read-nano" in by:
        rn = by["read-nano"][0]
        line("read+select NanoAOD", rn["events"] / rn["seconds"], "ev/s",
             f"{rn['events']:,} events, {rn['selected']:,} pass, peak {rn['peak_rss_mb']:.0f} MB", rn["events"] / rn["cpu"])
    rr = by["render"][0]
    fast, slow = rr["images"] / rr["seconds"], rr["ref_images"] / rr["ref_seconds"]
    fast_cpu, slow_cpu = rr["images"] / rr["cpu"], rr["ref_images"] / rr["ref_cpu"]
    line(f"render {args.size} px (vectorised)", fast, "img/s", f"{fast_cpu / slow_cpu:.1f}x the per-event PIL "
         f"drawing per CPU second ({slow_cpu:,.0f} img/s, same process)", fast_cpu, reference=slow,
         reference_per_cpu_second=slow_cpu)
    io = by["infer-ort"][0]
    ort_rate = io["images"] / io["seconds"]
    note = f"batch {io['batch']}"
    if "infer-keras" in by:
        ik = by["infer-keras"][0]
        k_rate = ik["images"] / ik["seconds"]
        line("inference Keras TF (predict)", k_rate, "img/s", note, ik["images"] / ik["cpu"])
        note += f"; {ort_rate / k_rate:.2f}x Keras on TensorFlow"
    line("inference ONNX Runtime", ort_rate, "img/s", note, io["images"] / io["cpu"])
    for r in by["file-to-score"]:
        kind = "NanoAOD" if r["events"] > args.events else "JSON"
        line(f"file to score, {kind} ({r['events']:,} ev)", r["events"] / r["seconds"], "ev/s",
             f"{r['scored']:,} scored ({r['scored'] / r['seconds']:,.0f} img/s); peak RSS {r['peak_rss_mb']:.0f} MB",
             r["events"] / r["cpu"], peak_rss_mb=r["peak_rss_mb"], events=r["events"], scored=r["scored"])
    su = by["start-up"][0]
    print(f"{'start-up to first score':<34} {su['seconds']:>8.2f} s {su['cpu_seconds']:>8.2f} s       median of "
          f"{len(su['all_seconds'])} fresh `eventcnn predict --model` processes on a 100-event file (to their exit)")
    out["stages"]["start-up"] = {"seconds": su["seconds"], "cpu_seconds": su["cpu_seconds"],
                                 "all_seconds": su["all_seconds"]}
    return out


if __name__ == "__main__":
    raise SystemExit(main())
