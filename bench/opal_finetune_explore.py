"""Fine-tuning the simulation-pretrained OPAL CNN on 50 suggested labels: the exploration behind FINE_TUNE.

An in-process harness (not the CLI: ``bench/opal_active.py`` measures the
shipped recipe as a class runs it). Per seed it reads the 50 labels that
``bench/opal_active.py`` chose (``<labels>/labels_S/labels.csv``: 5 rounds of
``opal suggest``), fine-tunes the masterclass CNN from ``weights`` with the
given settings and scores the 447 displays not labelled (balanced accuracy and
recall, TTA, one pass, and the mean with the pretrained network alone).

Settings (a JSON object): ``lr``, ``epochs`` (12), ``steps`` (32), ``bs`` (16),
``sim_mix`` (mix simulated displays into every batch), ``n_real`` (real
displays per batch when mixing), ``freeze`` (conv layers frozen), ``val``
(hold out 20 % of the labels for early stopping), ``weights``, ``pseudo``
(pseudo-labels per class from the pretrained network), ``thr``.
The simulated pool: ``--sim`` (one or more ``opal simulate`` folders;
``--slices`` takes part of each, e.g. ``0:1000 1000:2000``).

Usage (the runs in docs/benchmarks.md, "Fine-tuning from the pretrained weights";
``--labels``: the ``--out`` of a ``bench/opal_active.py --orders suggested``
run, whose ``suggested_S/labels.csv`` are read; ``labels_S/labels.csv`` too)::

    eventcnn opal simulate --events 2000 --seed 7 --out bench/_out/ft/sim2000B   # tuned detector
    PYTHONPATH=. python bench/opal_finetune_explore.py '{"lr": 3e-5, "sim_mix": true, "n_real": 4}' \
        mix4 --labels bench/_out/opal_active_v4 --sim bench/_out/ft/sim2000B
"""
import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np

from eventcnn import opal
from eventcnn.learn.models import load_network_weights, masterclass_network
from eventcnn.learn.splits import class_weight_vector, stratified_holdout
from eventcnn.learn.weights import resolve_weights
from eventcnn.opal import ids

_ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
_ap.add_argument("spec", help="settings as JSON")
_ap.add_argument("tag", help="name of this run in the output")
_ap.add_argument("--data", type=Path, default=Path("../shared/data/opal"))
_ap.add_argument("--labels", type=Path, default=Path("bench/_out/ft"),
                 help="folder with suggested_S/labels.csv (bench/opal_active.py --out) or labels_S/labels.csv")
_ap.add_argument("--sim", type=Path, nargs="+", default=[Path("bench/_out/ft/sim2000B")])
_ap.add_argument("--slices", nargs="+", default=None,
                 help="per --sim folder, the displays taken as START:STOP (default: all)")
_ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
ARGS = _ap.parse_args()
D = ARGS.data
OUT = ARGS.labels
real = opal.load_displays(D / "centered-masked-rotated1.zip", D / "events_list.csv", quiet=True)
yall = opal.label_indices(real.labels)
name_idx = {n: i for i, n in enumerate(real.names)}
name_idx.update({ids.display_id(n): i for i, n in enumerate(real.names)})
_pools = [opal.load_displays(p / "sim.zip", p / "events_list.csv", quiet=True) for p in ARGS.sim]
_cuts = [slice(*(int(v) if v else None for v in c.split(":"))) for c in ARGS.slices] if ARGS.slices \
    else [slice(None)] * len(_pools)
SIM_X = np.concatenate([p.images[c] for p, c in zip(_pools, _cuts)])
ysim = opal.label_indices(np.concatenate([p.labels[c] for p, c in zip(_pools, _cuts)]))


def labelled(seed):
    folder = OUT / f"suggested_{seed}"
    text = (folder if folder.is_dir() else OUT / f"labels_{seed}").joinpath("labels.csv").read_text()
    rows = [line.strip().split(";") for line in text.splitlines() if line.strip()]
    return np.array([name_idx[r[0][:-4]] for r in rows])


class Mix(keras.utils.PyDataset):
    def __init__(self, Xr, yr, n_real, Xs, ys, steps, bs, seed):
        super().__init__()
        self.Xr, self.yr, self.Xs, self.ys = Xr, yr, Xs, ys
        self.n_real, self.steps, self.bs, self.seed, self.epoch = n_real, steps, bs, seed, 0
        f = np.bincount(yr, minlength=4).astype(float)
        self.pr = (1 / f[yr]) / (1 / f[yr]).sum()
        if ys is not None:
            fs = np.bincount(ys, minlength=4).astype(float)
            self.ps = (1 / fs[ys]) / (1 / fs[ys]).sum()

    def __len__(self):
        return self.steps

    def __getitem__(self, i):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        a = rng.choice(len(self.yr), self.n_real, p=self.pr)
        x, y = self.Xr[a], self.yr[a]
        if self.ys is not None and self.bs > self.n_real:
            b = rng.choice(len(self.ys), self.bs - self.n_real, p=self.ps)
            x, y = np.concatenate([x, self.Xs[b]]), np.concatenate([y, self.ys[b]])
        return x, y

    def on_epoch_end(self):
        self.epoch += 1


_P0 = {}


def p0(w="sim"):
    if w not in _P0:
        m = load_network_weights(masterclass_network(real.images.shape[1:]), resolve_weights(w, "masterclass"))
        _P0[w] = opal.predict_tta(m, real.images)
    return _P0[w]


def run(seed, lr=1e-4, epochs=12, steps=32, bs=16, n_real=16, sim_mix=False, freeze=0, val=True,
        weights="sim", patience=8, pseudo=0, thr=0.9):
    from eventcnn.opal.self_training import select_pseudo_labels
    L = labelled(seed)
    R = np.setdiff1d(np.arange(len(yall)), L)
    ylab = yall.copy()
    keras.utils.set_random_seed(seed)
    model = masterclass_network(real.images.shape[1:], augment=True, seed=seed)
    if weights:
        load_network_weights(model, resolve_weights(weights, "masterclass"))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    for layer in convs[:freeze]:
        layer.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy")
    yl = yall[L]
    cb, vd = [], None
    tr = L
    if val:
        vm = stratified_holdout(yl, 0.2, seed)
        tr, va = L[~vm], L[vm]
    npseudo = 0
    if pseudo:
        rows, codes = select_pseudo_labels(p0(weights)[R], thr, pseudo)
        ylab[R[rows]] = opal.label_indices(codes)
        npseudo = int(np.sum(ylab[R[rows]] == yall[R[rows]])), len(rows)
        tr = np.concatenate([tr, R[rows]])
        w = class_weight_vector(yall[va], 4, present_only=True).astype(np.float32)
        vd = (real.images[va], yall[va], w[yall[va]])
        cb = [keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)]
    ds = Mix(real.images[tr], ylab[tr], n_real if sim_mix else bs, SIM_X if sim_mix else None,
             ysim if sim_mix else None, steps, bs, seed)
    t0 = time.perf_counter()
    h = model.fit(ds, validation_data=vd, epochs=epochs, verbose=0, callbacks=cb) if epochs else None
    fit_s = time.perf_counter() - t0
    p1 = opal.predict(model, real.images[R]).argmax(1)
    ptp = opal.predict_tta(model, real.images[R])
    pt = ptp.argmax(1)
    pe = (ptp + p0(weights)[R]).argmax(1)
    yr = yall[R]
    def rec(p):
        return [float(np.mean(p[yr == k] == k)) for k in range(4)]
    r1, rt, re_ = rec(p1), rec(pt), rec(pe)
    return {"ba_tta": float(np.mean(rt)), "ba_1": float(np.mean(r1)), "rec_tta": rt, "rec_1": r1,
            "ba_ens": float(np.mean(re_)), "rec_ens": re_, "pseudo": npseudo,
            "fit_s": fit_s, "epochs_run": len(h.history["loss"]) if h else 0}


if __name__ == "__main__":
    spec = json.loads(ARGS.spec)
    tag = ARGS.tag
    seeds = ARGS.seeds
    res = []
    for s in seeds:
        r = run(s, **spec)
        res.append(r)
        print(tag, s, f"tta {r['ba_tta']:.3f} one {r['ba_1']:.3f} rec_tta", [round(v, 2) for v in r["rec_tta"]],
              f"fit {r['fit_s']:.0f}s ep {r['epochs_run']} ens {r['ba_ens']:.3f}", [round(v, 2) for v in r["rec_ens"]], "pseudo", r["pseudo"], flush=True)
    ba = np.array([r["ba_tta"] for r in res])
    b1 = np.array([r["ba_1"] for r in res])
    tau = np.mean([r["rec_tta"][3] for r in res])
    be = np.array([r["ba_ens"] for r in res])
    taue = np.mean([r["rec_ens"][3] for r in res])
    print(f"SUMMARY {tag} {spec}: tta {ba.mean():.3f}+-{ba.std():.3f} min {ba.min():.3f} tau {tau:.2f} | "
          f"ens {be.mean():.3f}+-{be.std():.3f} min {be.min():.3f} tau {taue:.2f} | "
          f"one {b1.mean():.3f} min {b1.min():.3f}", flush=True)
    with open(OUT / "results.jsonl", "a") as fh:
        fh.write(json.dumps({"tag": tag, "spec": spec, "seeds": seeds, "res": res}) + "\n")
