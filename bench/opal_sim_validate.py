"""Validate the OPAL simulation: speed, physics, and how its displays compare with the real ones.

Prints, each against a reference measured or stated in the same run:

- speed: ``eventcnn opal simulate --jobs 1`` as a subprocess (start-up
  included), displays per second of wall time and per CPU second of that
  process (user + system; what one core does when the machine is shared),
  against the 100/s target and against Pythia alone (the same events generated
  without detector or drawing, wall time);
- physics: mean charged multiplicity of hadronic Z decays (all charged final-state
  particles, and reconstructed tracks) against OPAL's measurement 21.40 +- 0.43
  (Z. Phys. C 53 (1992) 539); tau 1-prong / 3-prong fractions of the simulated
  taus against the PDG averages (85.24 % / 14.57 %); lepton-pair acceptance
  (both leptons' tracks reconstructed) against the 1 + cos^2 expectation for
  the jet chamber's ``|cos theta| < 0.95``;
- pixels: per class, lit-pixel fraction, lit pixels per radial band (tracks,
  calorimeters, muon chambers) and the colour shares of lit pixels, real vs
  simulated (ratio sim / real); the width per class: the median angle of
  lit pixels from the event axis in the jet-chamber and calorimeter bands; and
  the layers per class: where each layer's lit pixels start and end (10th and
  90th percentile of their radius) and how bright they are (mean of the
  brightest channel), real vs simulated;
- a gallery, real and simulated displays side by side per class
  (``--gallery docs/img/opal_sim_gallery.png``).

Usage (the run reported in docs/benchmarks.md)::

    PYTHONPATH=. python bench/opal_sim_validate.py --data ../shared/data/opal --events 2000 \
        --speed-events 1000 --gallery docs/img/opal_sim_gallery.png --out bench/_out/opal_sim_validate
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from eventcnn import opal  # noqa: E402
from eventcnn._io import write_json_atomic  # noqa: E402
from eventcnn.opal import simulate as sim  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: radial bands (px) of the width statistic: tracks, e.m. and hadron calorimeters
WIDTH_BANDS = {"jet chamber": (5, 30), "e.m. calorimeter": (30, 48), "hadron calorimeter": (48, 66)}
#: radial bands (px) of the layer statistic
LAYER_BANDS = {**WIDTH_BANDS, "muon chambers": (66, 95)}
BANDS = {"vertex": (0, 5), "jet chamber": (5, 30), "gap": (30, 36), "e.m. calorimeter": (36, 48),
         "hadron calorimeter": (48, 66), "muon chambers": (66, 95)}
COLOURS = {(1, 1, 0): "yellow", (0, 1, 0): "green", (0, 0, 1): "blue", (1, 0, 1): "magenta",
           (0, 1, 1): "cyan", (1, 1, 1): "white", (1, 0, 0): "red", (0, 0, 0): "dim"}
OPAL_NCH, OPAL_NCH_ERR = 21.40, 0.43
PDG_1PRONG, PDG_3PRONG = 0.8524, 0.1457


def speed(n: int, out: Path) -> dict:
    """Wall-clock rate of the CLI on one core (start-up included) and of Pythia alone."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "eventcnn", "opal", "simulate", "--events", str(n), "--out",
                    str(out / "speed"), "--jobs", "1", "--quiet"], env=env, check=True, cwd=ROOT,
                   capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    code = ("import time,sys; t=time.perf_counter(); from eventcnn.opal import simulate as s\n"
            f"n={n}\nfor c in 'qemt':\n p=s._pythia(c)\n for i in range(n//4):\n"
            "  p.rndm.init(s.event_seed(1,c,i)); p.next(); s._final_state(p)\n"
            "print(time.perf_counter()-t)")
    res = subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT, capture_output=True,
                         text=True)
    pythia_s = float(res.stdout.strip().splitlines()[-1])
    return {"events": n, "wall_s": wall, "per_s": n / wall, "cpu_s": cpu, "per_cpu_s": n / cpu,
            "load_average": os.getloadavg(), "pythia_only_s": pythia_s,
            "pythia_only_per_s": n / pythia_s}


def physics(n_per_class: int, seed: int) -> tuple[dict, dict]:
    """Multiplicity, tau prongs, acceptance; and the displays per class (for the pixel comparison)."""
    recs, imgs = {}, {}
    for c in opal.CLASS_NAMES:
        pairs = sim.simulate_chunk(seed, c, 0, n_per_class, records=True)
        imgs[c] = np.stack([p[0] for p in pairs])
        recs[c] = [p[1] for p in pairs]
    nch = np.array([r.n_charged_true for r in recs["q"]])
    ntrk = np.array([r.n_tracks for r in recs["q"]])
    prongs = np.array([k for r in recs["t"] for k in r.n_tracks_tau])
    c95 = 0.95
    expect = (c95 + c95**3 / 3) / (4 / 3)  # 1 + cos^2 theta inside |cos theta| < 0.95
    acc = {c: float(np.mean([r.n_tracks >= 2 for r in recs[c]])) for c in ("e", "m")}
    acc["t"] = float(np.mean([r.n_tracks >= 2 for r in recs["t"]]))
    out = {"n_per_class": n_per_class,
           "hadronic_charged_multiplicity": {"mean": float(nch.mean()), "std": float(nch.std()),
                                             "error_of_mean": float(nch.std() / np.sqrt(len(nch))),
                                             "opal": OPAL_NCH, "opal_error": OPAL_NCH_ERR,
                                             "ratio": float(nch.mean() / OPAL_NCH)},
           "hadronic_tracks_reconstructed": {"mean": float(ntrk.mean())},
           "lepton_tracks_mean": {c: float(np.mean([r.n_tracks for r in recs[c]])) for c in ("e", "m", "t")},
           "tau_prongs": {"one": float(np.mean(prongs == 1)), "three": float(np.mean(prongs == 3)),
                          "five": float(np.mean(prongs == 5)), "taus": int(len(prongs)),
                          "pdg_one": PDG_1PRONG, "pdg_three": PDG_3PRONG},
           "acceptance_two_tracks": acc, "acceptance_expected_cos095": expect,
           "muon_chamber_hits": {c: float(np.mean([len(r.muon_hits) for r in recs[c]])) for c in "qemt"}}
    return out, imgs


def pixel_stats(images: np.ndarray) -> dict:
    """Lit fraction, lit pixels per radial band, colour shares of lit pixels."""
    yy, xx = np.mgrid[:200, :200]
    radius = np.hypot(xx - 99.5, yy - 99.5)
    im = images.astype(int)
    lit = im.sum(3) > 40
    bands = {k: float(lit[:, (radius >= a) & (radius < b)].sum(1).mean()) for k, (a, b) in BANDS.items()}
    # width: per display, the median angle (deg) of lit pixels from the vertical event axis, per band
    angle = np.degrees(np.arctan2(np.abs(xx - 99.5), np.abs(99.5 - yy)))
    width = {}
    for k, (a, b) in WIDTH_BANDS.items():
        m = (radius >= a) & (radius < b)
        med = [np.median(angle[m][row[m]]) for row in lit if row[m].any()]
        width[k] = float(np.mean(med)) if med else float("nan")
    layers = {}
    for k, (a, b) in LAYER_BANDS.items():
        m = lit & ((radius >= a) & (radius < b))[None]
        rad = np.broadcast_to(radius, lit.shape)[m]
        layers[k] = ({"r10": float(np.percentile(rad, 10)), "r90": float(np.percentile(rad, 90)),
                      "intensity": float(im.max(3)[m].mean())} if len(rad) else None)
    px = im[lit]
    dom = (px >= np.maximum(px.max(1, keepdims=True) * 0.6, 30)).astype(int)
    counts = collections.Counter(map(tuple, dom.tolist()))
    total = max(len(dom), 1)
    colours = {COLOURS.get(k, "other"): v / total for k, v in counts.items()}
    return {"lit_fraction": float(lit.mean()), "bands": bands, "width_deg": width, "layers": layers,
            "colours": {k: round(colours.get(k, 0.0), 3) for k in COLOURS.values()},
            "mean_lit_intensity": float(px.mean()) if len(px) else 0.0}


def gallery(real: opal.OpalData, imgs: dict, path: Path, per_class: int = 3) -> None:
    fig, axes = plt.subplots(4, 2 * per_class, figsize=(2 * per_class * 1.8, 4 * 1.9))
    rng = np.random.default_rng(0)
    for i, c in enumerate(opal.CLASS_NAMES):
        ridx = rng.choice(np.flatnonzero(real.labels == c), per_class, replace=False)
        for j in range(per_class):
            for k, (img, tag) in enumerate(((real.images[ridx[j]], "real"), (imgs[c][j], "simulated"))):
                ax = axes[i, 2 * j + k]
                ax.imshow(img[25:175, 25:175])
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{tag} {c}", fontsize=8, color="black" if tag == "real" else "darkred")
        axes[i, 0].set_ylabel(opal.CLASS_TITLES[c].split(" (")[0], fontsize=9)
    fig.suptitle("OPAL displays: real (black titles) and simulated (red titles), per class", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "opal")
    ap.add_argument("--events", type=int, default=2000, help="simulated displays for physics/pixels")
    ap.add_argument("--speed-events", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--gallery", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("bench/_out/opal_sim_validate"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sp = speed(args.speed_events, args.out)
    print(f"speed: {sp['per_s']:.0f} displays/s wall on one process, start-up included ({sp['events']} in "
          f"{sp['wall_s']:.1f} s, load average {sp['load_average'][0]:.1f}); per CPU second "
          f"{sp['per_cpu_s']:.0f} ({sp['cpu_s']:.1f} CPU s); target 100/s: ratio wall {sp['per_s'] / 100:.2f}, "
          f"CPU {sp['per_cpu_s'] / 100:.2f}; Pythia alone "
          f"{sp['pythia_only_per_s']:.0f}/s (simulation / Pythia-only time "
          f"{sp['wall_s'] / sp['pythia_only_s']:.1f}x)", flush=True)
    phys, imgs = physics(args.events // 4, args.seed)
    m = phys["hadronic_charged_multiplicity"]
    print(f"hadronic Z: mean charged multiplicity {m['mean']:.2f} +- {m['error_of_mean']:.2f} "
          f"(OPAL {OPAL_NCH} +- {OPAL_NCH_ERR}; ratio {m['ratio']:.3f}); reconstructed tracks "
          f"{phys['hadronic_tracks_reconstructed']['mean']:.1f}")
    tp = phys["tau_prongs"]
    print(f"taus ({tp['taus']}): 1-prong {tp['one']:.3f} (PDG {PDG_1PRONG}; ratio {tp['one'] / PDG_1PRONG:.3f}), "
          f"3-prong {tp['three']:.3f} (PDG {PDG_3PRONG}; ratio {tp['three'] / PDG_3PRONG:.3f})")
    acc = phys["acceptance_two_tracks"]
    print(f"lepton pairs with >= 2 tracks: e {acc['e']:.3f}, mu {acc['m']:.3f}, tau {acc['t']:.3f}; "
          f"expected for |cos theta| < 0.95: {phys['acceptance_expected_cos095']:.3f} "
          f"(ratio mu {acc['m'] / phys['acceptance_expected_cos095']:.3f})")
    print("muon-chamber hits per event: " + ", ".join(f"{c} {v:.2f}" for c, v in phys["muon_chamber_hits"].items()))
    real = opal.load_displays(args.data / "centered-masked-rotated1.zip", args.data / "events_list.csv",
                              quiet=True)
    pix = {}
    print("\n| class | | lit fraction | " + " | ".join(BANDS) + " | colours (share of lit pixels) |")
    print("|---|---|---|" + "---|" * len(BANDS) + "---|")
    for c in opal.CLASS_NAMES:
        r, s = pixel_stats(real.images[real.labels == c]), pixel_stats(imgs[c])
        pix[c] = {"real": r, "sim": s}
        for tag, st in (("real", r), ("sim", s)):
            cols = ", ".join(f"{k} {v:.2f}" for k, v in sorted(st["colours"].items(), key=lambda kv: -kv[1])
                             if v >= 0.03)
            print(f"| {c} | {tag} | {st['lit_fraction']:.4f} | "
                  + " | ".join(f"{st['bands'][b]:.0f}" for b in BANDS) + f" | {cols} |")
        print(f"| {c} | sim/real | {s['lit_fraction'] / r['lit_fraction']:.2f} | "
              + " | ".join(f"{s['bands'][b] / r['bands'][b]:.2f}" if r["bands"][b] > 1 else "-" for b in BANDS)
              + " | |")
    print("\nwidth: median angle (deg) of lit pixels from the event axis, mean over displays")
    print("| class | " + " | ".join(f"{b} real | sim" for b in WIDTH_BANDS) + " |")
    print("|---|" + "---|---|" * len(WIDTH_BANDS))
    for c in opal.CLASS_NAMES:
        r, s = pix[c]["real"]["width_deg"], pix[c]["sim"]["width_deg"]
        print(f"| {c} | " + " | ".join(f"{r[b]:.1f} | {s[b]:.1f}" for b in WIDTH_BANDS) + " |")
    print("\nlayers: radius (px) where lit pixels start - end (10th - 90th percentile) and their mean brightness")
    print("| class | " + " | ".join(f"{b} real | sim" for b in LAYER_BANDS) + " |")
    print("|---|" + "---|---|" * len(LAYER_BANDS))

    def _layer(v: dict | None) -> str:
        return "-" if v is None else f"{v['r10']:.0f}-{v['r90']:.0f}, {v['intensity']:.0f}"

    for c in opal.CLASS_NAMES:
        r, s = pix[c]["real"]["layers"], pix[c]["sim"]["layers"]
        print(f"| {c} | " + " | ".join(f"{_layer(r[b])} | {_layer(s[b])}" for b in LAYER_BANDS) + " |")
    if args.gallery:
        gallery(real, imgs, args.gallery)
        print(f"\ngallery -> {args.gallery}")
    write_json_atomic(args.out / "validate.json", {"speed": sp, "physics": phys, "pixels": pix})
    print(json.dumps({"speed_per_s": round(sp["per_s"], 1), "nch": round(m["mean"], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
