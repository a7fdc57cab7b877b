"""Class mix of the next batch of a resumed OPAL labelling: before (one greedy score) vs now (strata).

The report: label 2 events, stop, start a new batch of 48: it held 44 hadronic,
3 muon, 1 electron and 0 tau displays. Here, on the real development set, the
next batch of ``--n`` suggested displays after several things labelled before
(oracle answers, reference labels used for the labels and the scoring only),
with ``eventcnn.opal.suggest.suggest_indices`` (now) and with the previous
algorithm (``previous_indices`` below, a copy of the code before this change:
one greedy score of uncertainty, rarity and capped distance), on the same
features. Prints the counts per class and, per scenario and overall, the
smallest count of a rare class (e, m, t) now / before.

Usage (the run reported in docs/benchmarks.md)::

    PYTHONPATH=. python bench/opal_resume_mix.py --data ../shared/data/opal --n 48
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from eventcnn import opal
from eventcnn.opal import suggest as S


def previous_indices(z: np.ndarray, labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The suggestion for a resumed labelling before this change (reference)."""
    lab = labels != ""
    candidates = np.flatnonzero(~lab)
    s = S.scores(z, labels, seed=seed)
    base = 0.1 + s["uncertainty"] + 2.0 * s["rarity"]
    labelled = np.flatnonzero(lab)
    d = np.min(np.linalg.norm(z[:, None, :] - z[None, labelled, :], axis=2), axis=1)
    scale = float(np.median(d[candidates])) + 1e-9
    avail = np.zeros(len(z), dtype=bool)
    avail[candidates] = True
    picks: list[int] = []
    while len(picks) < n:
        score = np.where(avail, base * np.minimum(d / scale, 1.0), -np.inf)
        i = int(np.argmax(score))
        picks.append(i)
        avail[i] = False
        d = np.minimum(d, np.linalg.norm(z - z[i], axis=1))
    return np.array(picks)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/opal"))
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=200,
                    help="display size loaded; features on every (size // 100)-th pixel, as `opal label` does")
    args = ap.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = opal.load_displays(args.data / "centered-masked-rotated1.zip", args.data / "events_list.csv",
                                  size=args.size, quiet=True)
    ref = data.labels
    step = max(1, args.size // 100)  # as eventcnn.opal.labeller.choose_events
    images = data.images[:, ::step, ::step]
    z = S.embed(S.image_features(images), seed=args.seed)
    first = S.suggest_indices(images, None, n=50, seed=args.seed, features=z)
    rng = np.random.default_rng(1)
    scenarios = {
        "1 of the first batch": first[:1], "2 of the first batch": first[:2], "5 of the first batch": first[:5],
        "10 of the first batch": first[:10], "the whole first batch (50)": first,
        "5 hadrons": np.flatnonzero(ref == "q")[:5], "60 hadrons": np.flatnonzero(ref == "q")[:60],
        "10 at random": rng.choice(len(ref), 10, replace=False),
        "30 at random": rng.choice(len(ref), 30, replace=False),
    }

    def mix(idx: np.ndarray) -> dict[str, int]:
        return {c: int(np.sum(ref[idx] == c)) for c in opal.CLASS_NAMES}

    print(f"next {args.n} suggested displays after ... (counts q e m t by the reference labels; "
          f"{len(ref)} displays: {mix(np.arange(len(ref)))})")
    print("| labelled before | before: q e m t | now: q e m t | rarest class now / before | s now / before |")
    print("|---|---|---|---|---|")
    worst = {"before": args.n, "now": args.n}
    for name, done in scenarios.items():
        labels = np.full(len(ref), "", dtype="<U1")
        labels[done] = ref[done]
        t0 = time.perf_counter()
        old = previous_indices(z, labels, args.n, args.seed)
        t_old = time.perf_counter() - t0
        t0 = time.perf_counter()
        new = S.suggest_indices(images, labels, n=args.n, seed=args.seed, features=z)
        t_new = time.perf_counter() - t0
        a, b = mix(old), mix(new)
        ra, rb = min(a[c] for c in "emt"), min(b[c] for c in "emt")
        worst["before"], worst["now"] = min(worst["before"], ra), min(worst["now"], rb)
        ratio = f"{rb} / {ra}" + (f" = {rb / ra:.1f}" if ra else "")
        print(f"| {name} | {' '.join(str(a[c]) for c in 'qemt')} | {' '.join(str(b[c]) for c in 'qemt')} "
              f"| {ratio} | {t_new:.1f} / {t_old:.1f} |")
    print(f"\nsmallest count of a rare class over all scenarios: now {worst['now']}, before {worst['before']} "
          f"(of {args.n}; a class-balanced batch holds {args.n // 4} of each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
