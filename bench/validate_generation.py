"""Compare generated events with the real CMS 2011 samples (tt+jets, W+jets).

Generates N events of ``tt`` and ``wjets`` (or reads them from ``--generated``
files), reads the real ``TTjets_json.json`` and ``Wjets_json.json`` with
:func:`eventcnn.events.read_events`, prints the means of a few observables and
saves overlay histograms (unit area) to a small PNG.

Observables: jet multiplicity (pT > 30), HT (scalar sum of jet pT), MET,
sumET, leading lepton pT (electrons and muons with pT > 5 GeV, the generator's
threshold), number of leptons with pT > 20 GeV, leading-jet pT, fraction of
jets with CSV > 0.679 among jets that have a CSV value.

    python bench/validate_generation.py [--events 2000] [--seed 7] [--jobs 1] \
        [--data ../shared/data/cms] [--out docs/img/validation_generation.png]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from eventcnn.events import Events, read_events
from eventcnn.events.generate import generate_to_file

ROOT = Path(__file__).resolve().parents[1]
REAL = {"tt": "TTjets_json.json", "wjets": "Wjets_json.json"}


def _leading(objs, mask: np.ndarray, n_events: int) -> np.ndarray:
    """Leading pT per event among ``objs[mask]`` (NaN when none)."""
    out = np.full(n_events, -np.inf)
    np.maximum.at(out, objs.event_index[mask], objs["pt"][mask])
    return np.where(np.isfinite(out), out, np.nan)


def observables(ev: Events) -> dict[str, np.ndarray]:
    """Per-event observables (and the flat CSV values) of ``ev``."""
    n = len(ev)
    lep_pt = np.concatenate([ev.electron["pt"], ev.muon["pt"]])
    lep_ev = np.concatenate([ev.electron.event_index, ev.muon.event_index])
    ok = lep_pt > 5.0
    lead = np.full(n, -np.inf)
    np.maximum.at(lead, lep_ev[ok], lep_pt[ok])
    csv = ev.jet["csv"]
    return {
        "njet": ev.jet.counts.astype(float),
        "HT [GeV]": np.bincount(ev.jet.event_index, ev.jet["pt"], n),
        "MET [GeV]": ev.met,
        "sumET [GeV]": ev.sumet,
        "leading lepton pT [GeV]": np.where(np.isfinite(lead), lead, np.nan),
        "n leptons pT>20": np.bincount(lep_ev[lep_pt > 20], minlength=n).astype(float),
        "leading jet pT [GeV]": _leading(ev.jet, np.ones(ev.jet.n_objects, bool), n),
        "CSV (jets with a value)": csv[np.isfinite(csv)],
    }


def lepton_jet_fraction(ev: Events) -> float:
    """Fraction of isolated leptons (pT > 20 GeV) that have a jet within dR < 0.3."""
    from eventcnn.events.detector import delta_r_pairs, pairs_within_events

    hits, total = 0, 0
    for lep in (ev.electron, ev.muon):
        sel = np.flatnonzero((lep["pt"] > 20) & lep["tight_iso"])
        i, j = pairs_within_events(lep.event_index[sel], ev.jet.offsets)
        dr = delta_r_pairs(lep["eta"][sel][i], lep["phi"][sel][i], ev.jet["eta"][j], ev.jet["phi"][j])
        hits += len(np.unique(i[dr < 0.3]))
        total += len(sel)
    return hits / max(total, 1)


BINS = {
    "njet": np.arange(-0.5, 10.5, 1.0),
    "HT [GeV]": np.linspace(0, 800, 41),
    "MET [GeV]": np.linspace(0, 200, 41),
    "sumET [GeV]": np.linspace(0, 1500, 41),
    "leading lepton pT [GeV]": np.linspace(0, 150, 31),
    "n leptons pT>20": np.arange(-0.5, 4.5, 1.0),
    "leading jet pT [GeV]": np.linspace(0, 300, 31),
    "CSV (jets with a value)": np.linspace(0, 1, 21),
}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "cms")
    ap.add_argument("--generated", type=Path, default=None,
                    help="folder with tt.json.gz / wjets.json.gz to reuse (written there if absent)")  # fmt: skip
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "validation_generation.png")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tmp = tempfile.TemporaryDirectory()
    gen_dir = args.generated or Path(tmp.name)
    names = list(BINS)
    fig, axes = plt.subplots(2, len(names), figsize=(2.6 * len(names), 5.0))
    for row, process in enumerate(REAL):
        real = read_events(args.data / REAL[process])
        path = gen_dir / f"{process}.json.gz"
        if not path.exists():
            generate_to_file(process, args.events, path, seed=args.seed, jobs=args.jobs, fast=args.fast)
        gen = read_events(path)
        obs_r, obs_g = observables(real), observables(gen)
        print(f"\n{process}: real {len(real)} events ({REAL[process]}), generated {len(gen)} events")
        print(f"  {'observable':26s} {'real mean':>10s} {'gen mean':>10s} {'gen/real':>9s}")
        for k, name in enumerate(names):
            r, g = obs_r[name], obs_g[name]
            r, g = r[np.isfinite(r)], g[np.isfinite(g)]
            if name.startswith("CSV"):
                mr, mg = (r > 0.679).mean(), (g > 0.679).mean()
                label = "frac CSV>0.679 (valued)"
            else:
                mr, mg, label = r.mean(), g.mean(), name
            print(f"  {label:26s} {mr:10.3f} {mg:10.3f} {mg / mr if mr else np.nan:9.2f}")
            if k == len(names) - 1:
                fr, fg = lepton_jet_fraction(real), lepton_jet_fraction(gen)
                print(f"  {'iso lepton inside a jet':26s} {fr:10.3f} {fg:10.3f} {fg / fr:9.2f}")
            ax = axes[row, k]
            ax.hist(r, BINS[name], density=True, histtype="stepfilled", alpha=0.35, color="C0",
                    label="CMS 2011 sim.")  # fmt: skip
            ax.hist(g, BINS[name], density=True, histtype="step", lw=1.5, color="C3", label="eventcnn gen.")
            ax.set_xlabel(name, fontsize=7)
            ax.tick_params(labelsize=6)
            if k == 0:
                ax.set_ylabel(f"{process} (unit area)", fontsize=8)
                ax.legend(fontsize=6)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from eventcnn._io import atomic_path

    with atomic_path(args.out) as tmp_png:
        fig.savefig(tmp_png, dpi=70, format="png")
    print(f"\nsaved {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
