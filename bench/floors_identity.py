"""Figures must not move: sha256 of what the lower floors write, for a before/after check.

Runs the command line (``python -m eventcnn``, so the same script measures any
version of the package) on the real development sample and prints one JSON
object: per check, the sha256 over every output file (name + bytes, in name
order) and the number of files. Run it on two commits and compare::

    PYTHONPATH=<checkout A> python bench/floors_identity.py --out bench/_out/id_a > a.json
    PYTHONPATH=<checkout B> python bench/floors_identity.py --out bench/_out/id_b > b.json
    python bench/floors_identity.py --compare a.json b.json

Checks: ``render`` of the CMS JSON (PNG 64 px, PNG 224 px, shards in the
channels style), the JSON converted to a NanoAOD TTree and rendered, the real
RNTuple NanoAOD file (muons only) rendered, ``generate`` (Pythia 8, two chunks,
``--jobs 1`` and ``2``), ``opal simulate`` (Pythia 8 + the OPAL-like detector,
``--jobs 1`` and ``2``) and ``augment`` (Augmentor on disk).

    python bench/floors_identity.py [--limit 300] [--sim 240] [--gen 300] [--skip generate,simulate]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EVENTCNN_SHARED_DATA", ROOT.parent / "shared" / "data"))
NANO = DATA / "nano" / "Run2012BC_DoubleMuParked_Muons_1000evts_rntuple.root"


def _cli(*args: str) -> str:
    """Run ``python -m eventcnn ARGS`` quietly; its stdout (raises with stderr on failure)."""
    env = dict(os.environ, EVENTCNN_QUIET="1", TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    res = subprocess.run([sys.executable, "-m", "eventcnn", *args], capture_output=True, text=True, env=env)
    if res.returncode:
        raise SystemExit(f"eventcnn {' '.join(args)} failed ({res.returncode}):\n{res.stderr}")
    return res.stdout


def _digest(files: dict[str, bytes]) -> dict[str, object]:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return {"sha256": h.hexdigest(), "files": len(files)}


def _folder(path: Path, skip: tuple[str, ...] = (".eventcnn.lock",)) -> dict[str, object]:
    return _digest({p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*")
                    if p.is_file() and p.name not in skip})


def _zip_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _manifest_free(path: Path) -> dict[str, object]:
    """The images of a folder without the files that name this run's paths (manifest, index, augment config)."""
    return _folder(path, skip=(".eventcnn.lock", "manifest.csv", "shards.csv", "skipped.csv", "augment_config.json"))


def _help_has(command: list[str], flag: str) -> bool:
    return flag in _cli(*command, "--help")


def run_checks(out: Path, limit: int, n_sim: int, n_gen: int, skip: set[str]) -> dict[str, object]:
    out.mkdir(parents=True, exist_ok=True)
    tt, w = str(DATA / "cms" / "TTjets_json.json"), str(DATA / "cms" / "Wjets_json.json")
    res: dict[str, object] = {}
    times: dict[str, float] = {}

    def timed(name: str, fn) -> None:
        t0 = time.perf_counter()
        res[name] = fn()
        times[name] = round(time.perf_counter() - t0, 2)

    def render(name: str, *args: str) -> dict[str, object]:
        _cli("render", *args, "--out", str(out / name))
        return _manifest_free(out / name)

    if "render" not in skip:
        timed("render_png64", lambda: render("png64", tt, w, "--size", "64", "--limit", str(limit)))
        timed("render_png224", lambda: render("png224", tt, w, "--limit", str(limit // 3)))
        timed("render_shards", lambda: render("shards", tt, w, "--size", "32", "--style", "channels",
                                              "--format", "shards", "--shard-size", "150",
                                              "--limit", str(limit), "--selection", "lepton"))
        _cli("data", "convert", tt, str(out / "tt.root"), "--overwrite")
        timed("render_ttree", lambda: render("ttree", str(out / "tt.root"), "--size", "64", "--limit", str(limit),
                                             "--label", "ttjets"))
        absent = ["--absent", "Electron,Jet,MET"] if _help_has(["render"], "--absent") else []
        timed("render_rntuple_muons", lambda: render("rntuple", str(NANO), "--size", "64", "--selection", "none",
                                                     *absent))
    if "augment" not in skip and "render" not in skip:
        timed("augment", lambda: (_cli("augment", str(out / "png64"), "--out", str(out / "aug"), "--samples", "15",
                                       "--seed", "3"), _manifest_free(out / "aug"))[1])
    if "generate" not in skip:
        for jobs in ("1", "2"):
            path = out / f"dy_j{jobs}.json"
            timed(f"generate_j{jobs}", lambda path=path, jobs=jobs: (
                _cli("generate", "dy", "--events", str(n_gen), "--seed", "5", "--fast", "--jobs", jobs,
                     "--out", str(path), "--overwrite"), _digest({"dy.json": path.read_bytes()}))[1])
    if "simulate" not in skip:
        for jobs in ("1", "2"):
            folder = out / f"sim_j{jobs}"
            timed(f"simulate_j{jobs}", lambda folder=folder, jobs=jobs: (
                _cli("opal", "simulate", "--events", str(n_sim), "--seed", "3", "--jobs", jobs, "--out", str(folder)),
                _digest({**_zip_members(folder / "sim.zip"),
                         "events_list.csv": (folder / "events_list.csv").read_bytes()}))[1])
    return {"checks": res, "seconds": times}


def compare(a_path: str, b_path: str) -> int:
    a, b = (json.loads(Path(p).read_text())["checks"] for p in (a_path, b_path))
    bad = 0
    for name in sorted(set(a) | set(b)):
        same = a.get(name) == b.get(name)
        bad += not same
        print(f"{name:24s} {'identical' if same else 'DIFFERENT'}  {a.get(name)}  {b.get(name) if not same else ''}")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "_out" / "floors_identity")
    ap.add_argument("--limit", type=int, default=300, help="selected events per CMS input")
    ap.add_argument("--sim", type=int, default=240, help="simulated OPAL displays")
    ap.add_argument("--gen", type=int, default=300, help="generated events (chunks of 250)")
    ap.add_argument("--skip", default="", help="comma-separated: render, augment, generate, simulate")
    ap.add_argument("--compare", nargs=2, metavar="JSON")
    args = ap.parse_args()
    if args.compare:
        return compare(*args.compare)
    result = run_checks(args.out, args.limit, args.sim, args.gen, set(filter(None, args.skip.split(","))))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
