"""Which OPAL displays should the class label next? Active learning on cheap image features.

A class labels a few displays by hand; the CNN learns from them. Which displays
they label matters more than how many: the first 30 in name order are almost all
hadronic, so the network never sees a tau. :func:`suggest` picks the next batch:

- **no labels yet**: a diverse first batch, farthest-point (k-center) sampling
  on cheap image features (:func:`image_features`: downsampled lit-pixel maps,
  colour histograms, radial and horizontal energy profiles, compressed by PCA).
  The rare leptonic displays look unlike the bulk of hadronic ones, so a
  diverse batch covers them.
- **with labels** (a resumed labelling): the batch is shared evenly among
  look-alike groups of displays (:func:`strata`: coarse k-means groups and finer
  clusters inside them), counting what is labelled already, so it stays
  class-balanced whatever was labelled before (2 hadrons or 60); inside a group
  a cheap classifier (class-balanced logistic regression on the same features)
  favours displays it is least sure about (small margin between the two most
  likely classes), that probably belong to classes rare so far, and that are far
  from everything labelled or picked.

Everything is seeded and deterministic; 497 displays take about a second
(``bench/opal_active.py``). Keras is not needed.

Example::

    from eventcnn import opal
    from eventcnn.opal import suggest
    data = opal.load_displays("centered-masked-rotated1.zip", "my_labels.csv")
    names = suggest.suggest(data, n=10, seed=0)     # label these next
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eventcnn.errors import UserError
from eventcnn.opal.displays import CLASS_NAMES, OpalData, load_displays
from eventcnn.seeds import DEFAULT_SEED

__all__ = [
    "embed",
    "first_batch",
    "GRID",
    "HUE_BINS",
    "image_features",
    "LIT_THRESHOLD",
    "pseudo_labels",
    "RADIAL_BINS",
    "scores",
    "strata",
    "suggest",
    "suggest_indices",
]

#: Pixels whose brightest channel is above this count as "lit" (displays are black).
LIT_THRESHOLD = 40
#: Side of the downsampled lit-pixel map.
GRID = 20
#: Colour histogram: hue bins of lit pixels (plus one bin for grey/white).
HUE_BINS = 12
RADIAL_BINS = 12


def image_features(images: np.ndarray, chunk: int = 128) -> np.ndarray:
    """Cheap, columnar features of ``uint8`` displays ``(N, H, W, 3)`` -> ``(N, F)`` float32.

    Per display: the fraction of lit pixels in a ``GRID`` x ``GRID`` map (sqrt
    scaled), a hue histogram of lit pixels, lit-pixel profiles in radius and in
    horizontal distance from the (vertical) event axis, and a few summary
    numbers (lit fraction, horizontal spread). No loop over events.

    Example::

        f = image_features(data.images)     # (497, 440)
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise UserError(f"images must be (N, H, W, 3), got shape {images.shape}")
    if min(images.shape[1:3]) < GRID:
        raise UserError(f"images must be at least {GRID}x{GRID} pixels, got {images.shape[1:3]}")
    if len(images) > chunk:  # bounded memory: float copies of `chunk` images at a time
        return np.concatenate([image_features(images[i:i + chunk], chunk)
                               for i in range(0, len(images), chunk)])
    n, h, w, _ = images.shape
    x = images.astype(np.float32) / 255.0
    mx = x.max(axis=-1)
    mn = x.min(axis=-1)
    lit = mx > LIT_THRESHOLD / 255.0
    litf = lit.astype(np.float32)
    total = litf.sum(axis=(1, 2)) + 1.0

    # downsampled lit map (crop to a multiple of GRID)
    gh, gw = h // GRID, w // GRID
    grid = litf[:, : gh * GRID, : gw * GRID].reshape(n, GRID, gh, GRID, gw).mean(axis=(2, 4))
    grid = np.sqrt(grid).reshape(n, -1)

    # hue histogram of lit pixels (grey/white pixels in their own bin)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    chroma = mx - mn
    safe = np.where(chroma > 0, chroma, 1.0)
    hue = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4))
    hue_bin = np.minimum((hue / 6 * HUE_BINS).astype(np.int64), HUE_BINS - 1)
    grey = chroma < 0.25 * np.maximum(mx, 1e-6)
    bins = np.where(grey, HUE_BINS, hue_bin)
    flat = (np.arange(n)[:, None, None] * (HUE_BINS + 1) + bins)[lit]
    hist = np.bincount(flat, minlength=n * (HUE_BINS + 1)).reshape(n, HUE_BINS + 1)
    hist = np.sqrt(hist / total[:, None])

    # radial and horizontal profiles about the centre
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    rad = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / (np.hypot(cy, cx) + 1e-6)
    rbin = np.minimum((rad * RADIAL_BINS).astype(np.int64), RADIAL_BINS - 1).ravel()
    hbin = np.minimum((np.abs(xx - cx) / (cx + 1e-6) * RADIAL_BINS).astype(np.int64),
                      RADIAL_BINS - 1).ravel()
    lf = litf.reshape(n, -1)
    radial = np.sqrt(lf @ np.eye(RADIAL_BINS, dtype=np.float32)[rbin] / total[:, None])
    horiz = np.sqrt(lf @ np.eye(RADIAL_BINS, dtype=np.float32)[hbin] / total[:, None])

    spread = (lf @ (np.abs(xx - cx).ravel() / cx)) / total
    summary = np.stack([np.log1p(total), spread, np.sqrt(lit.mean(axis=(1, 2)))], axis=1)
    return np.concatenate([grid, hist, radial, horiz, summary], axis=1).astype(np.float32)


def embed(features: np.ndarray, dims: int = 16, seed: int = 0) -> np.ndarray:
    """Standardise ``features`` and project them on their first ``dims`` principal components.

    Example::

        z = embed(image_features(data.images), dims=32)
    """
    from sklearn.decomposition import PCA

    f = np.asarray(features, dtype=np.float64)
    f = (f - f.mean(0)) / (f.std(0) + 1e-6)
    dims = max(1, min(dims, f.shape[0], f.shape[1]))
    return PCA(n_components=dims, random_state=seed).fit_transform(f)


def _medoids(z: np.ndarray, idx: np.ndarray, k: int, seed: int) -> list[int]:
    """The display nearest each centre of a ``k``-means clustering of ``z[idx]``."""
    from sklearn.cluster import KMeans

    k = min(k, len(idx))
    if k < 1:
        return []
    km = KMeans(k, n_init=3, random_state=seed).fit(z[idx])
    out = []
    for c in range(k):
        members = idx[km.labels_ == c]
        if len(members):
            out.append(int(members[np.argmin(np.linalg.norm(z[members] - km.cluster_centers_[c], axis=1))]))
    return out


def first_batch(z: np.ndarray, n: int, seed: int = 0, groups: int = 3, min_share: float = 0.02) -> list[int]:
    """A diverse first batch: the batch is shared equally among coarse k-means groups.

    The displays are split into ``groups`` coarse clusters on the first 8
    principal components (groups under ``min_share`` of the displays, i.e.
    single odd displays, are ignored); each group gets an equal share of the
    batch, filled with the medoids of a finer k-means inside the group. On the
    OPAL set the sparse leptonic displays form one coarse group of their own, so
    about half of the first batch shows them although they are 13 % of the data.
    """
    from sklearn.cluster import KMeans

    zc = z[:, : min(8, z.shape[1])]
    k = min(groups, len(z))
    km = KMeans(k, n_init=3, random_state=seed).fit(zc)
    sizes = np.bincount(km.labels_, minlength=k)
    keep = [int(c) for c in np.argsort(-sizes, kind="stable") if sizes[c] >= max(1, min_share * len(z))]
    alloc = np.full(len(keep), n // len(keep))
    alloc[: n - alloc.sum()] += 1
    picks: list[int] = []
    for c, a in zip(keep, alloc):
        picks += _medoids(zc, np.flatnonzero(km.labels_ == c), int(a), seed)
    rest = np.setdiff1d(np.arange(len(z)), picks)
    if len(picks) < n and len(rest):  # groups smaller than their share: fill by k-center
        picks += _kcenter(z, n - len(picks), picks, rest)
    return picks[:n]


def _kcenter(z: np.ndarray, n: int, start: Sequence[int], candidates: np.ndarray,
             weight: np.ndarray | None = None) -> list[int]:
    """Greedy farthest-point picks among ``candidates``; distances to ``start`` count too.

    ``weight`` (per display, > 0) multiplies the distance: score = weight * distance.
    """
    d = np.full(len(z), np.inf)
    for s in start:
        d = np.minimum(d, np.linalg.norm(z - z[s], axis=1))
    if not len(start):
        d = np.linalg.norm(z - z.mean(0), axis=1)
    w = np.ones(len(z)) if weight is None else weight
    avail = np.zeros(len(z), dtype=bool)
    avail[candidates] = True
    picks: list[int] = []
    while len(picks) < n and avail.any():
        score = np.where(avail, w * d, -np.inf)
        i = int(np.argmax(score))
        picks.append(i)
        avail[i] = False
        d = np.minimum(d, np.linalg.norm(z - z[i], axis=1))
    return picks


def scores(z: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Per-display uncertainty, rarity and class probabilities from a classifier on ``z``.

    ``labels``: class codes with "" for unlabelled. Returns ``proba`` (N x 4, in
    :data:`~eventcnn.opal.CLASS_NAMES` order; classes never labelled get 0),
    ``uncertainty`` (1 - margin of the two most likely classes), ``rarity``
    (expected rarity of the display's class: sum_c p_c / (1 + n_c), scaled to 1).

    Example::

        s = scores(embed(image_features(data.images)), data.labels)
    """
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels)
    lab = labels != ""
    counts = np.array([np.sum(labels == c) for c in CLASS_NAMES], dtype=float)
    proba = np.zeros((len(z), len(CLASS_NAMES)))
    present = [i for i, c in enumerate(CLASS_NAMES) if counts[i] > 0]
    if len(present) == 1:
        proba[:, present[0]] = 1.0
    elif len(present) > 1:
        clf = LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000, random_state=seed)
        clf.fit(z[lab], labels[lab])
        p = clf.predict_proba(z)
        for j, c in enumerate(clf.classes_):
            proba[:, CLASS_NAMES.index(c)] = p[:, j]
    top = np.sort(proba, axis=1)
    uncertainty = 1.0 - (top[:, -1] - top[:, -2])
    rare = 1.0 / (1.0 + counts)
    rarity = proba @ (rare / rare.max())
    return {"proba": proba, "uncertainty": uncertainty, "rarity": rarity}


def suggest_indices(images: np.ndarray, labels: Sequence[str] | np.ndarray | None, n: int = 10,
                    seed: int = DEFAULT_SEED, features: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``n`` displays to label next (see :func:`suggest`).

    ``labels``: class code per display, "" for unlabelled (None: nothing labelled).
    ``features``: precomputed :func:`embed` output (saves time in loops).

    Example::

        idx = suggest_indices(data.images, data.labels, n=10, seed=0)
    """
    if n < 1:
        raise UserError(f"n must be >= 1, got {n}")
    images = np.asarray(images)
    labels = np.full(len(images), "", dtype="<U1") if labels is None else np.asarray(labels)
    if len(labels) != len(images):
        raise UserError(f"{len(images)} images but {len(labels)} labels")
    bad = sorted(set(labels.tolist()) - {"", *CLASS_NAMES})
    if bad:
        raise UserError(f"unknown class label(s) {bad}; expected {', '.join(CLASS_NAMES)} or ''")
    z = embed(image_features(images), seed=seed) if features is None else np.asarray(features)
    lab = labels != ""
    candidates = np.flatnonzero(~lab)
    n = min(n, len(candidates))
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if not lab.any():
        return np.array(first_batch(z, n, seed=seed), dtype=np.int64)
    return np.array(_balanced_picks(z, labels, n, seed), dtype=np.int64)


def strata(z: np.ndarray, seed: int = 0, groups: int = 3, sub: int = 8,
           min_share: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Two levels of look-alike groups: coarse k-means groups and finer clusters inside each.

    Returns ``(coarse, fine)`` per display; ``-1`` in both for displays of a
    coarse group under ``min_share`` of the set (single odd displays). On the
    OPAL set the sparse leptonic displays form a coarse group of their own and
    split into finer clusters that follow e / mu / tau, so a batch shared
    equally among them is class-balanced without knowing any class.

    Example::

        coarse, fine = strata(embed(image_features(data.images)))
    """
    from sklearn.cluster import KMeans

    zc = z[:, : min(8, z.shape[1])]
    k = min(groups, len(z))
    coarse = KMeans(k, n_init=3, random_state=seed).fit(zc).labels_.astype(np.int64)
    sizes = np.bincount(coarse, minlength=k)
    fine = np.full(len(z), -1, dtype=np.int64)
    nxt = 0
    for g in range(k):
        members = np.flatnonzero(coarse == g)
        if sizes[g] < max(1, min_share * len(z)):
            coarse[members] = -1
            continue
        s = min(sub, len(members))
        fine[members] = nxt + KMeans(s, n_init=3, random_state=seed).fit(z[members]).labels_
        nxt += s
    return coarse, fine


def _level(have: np.ndarray, avail: np.ndarray, n: int) -> np.ndarray:
    """Share ``n`` picks among groups so that labelled + picked is as even as possible."""
    alloc = np.zeros(len(have), dtype=np.int64)
    for _ in range(n):
        room = alloc < avail
        if not room.any():
            break
        alloc[int(np.argmin(np.where(room, have + alloc, np.inf)))] += 1
    return alloc


def _balanced_picks(z: np.ndarray, labels: np.ndarray, n: int, seed: int) -> list[int]:
    """A batch spread evenly over :func:`strata`, counting what is labelled already.

    Each coarse group, then each finer cluster in it, gets picks until its
    labelled + picked displays are as even as possible (so a class labelled a
    lot before gets few new displays, an unlabelled one many); inside a cluster
    the picks favour displays the cheap classifier is unsure about or thinks
    rare (:func:`scores`, once two classes are labelled) and stay far from
    everything labelled or picked.
    """
    lab = labels != ""
    free = ~lab
    coarse, fine = strata(z, seed=seed)
    if sum(np.any(labels == c) for c in CLASS_NAMES) >= 2:
        s = scores(z, labels, seed=seed)
        base = 0.1 + s["uncertainty"] + 2.0 * s["rarity"]
    else:  # one class (or none) labelled: a classifier says nothing yet; spread evenly
        base = np.ones(len(z))
    d = np.full(len(z), np.inf)
    for i in np.flatnonzero(lab):
        d = np.minimum(d, np.linalg.norm(z - z[i], axis=1))
    picks: list[int] = []

    def pick(avail: np.ndarray, count: int) -> None:
        nonlocal d
        finite = np.isfinite(d[avail])
        # beyond the typical distance there is no bonus, so odd outliers do not crowd out the rest
        scale = float(np.median(d[avail][finite])) + 1e-9 if finite.any() else 1.0
        for _ in range(count):
            near = np.minimum(np.where(np.isfinite(d), d / scale, 1.0), 1.0)
            score = np.where(avail, base * near + 1e-6 * np.minimum(d, 1e6), -np.inf)
            i = int(np.argmax(score))
            picks.append(i)
            avail[i] = False
            d = np.minimum(d, np.linalg.norm(z - z[i], axis=1))

    groups = [g for g in np.unique(coarse) if g >= 0]
    share = _level(np.array([np.sum(lab & (coarse == g)) for g in groups]),
                   np.array([np.sum(free & (coarse == g)) for g in groups]), n)
    for g, a in zip(groups, share):
        subs = np.unique(fine[coarse == g])
        sub_share = _level(np.array([np.sum(lab & (fine == t)) for t in subs]),
                           np.array([np.sum(free & (fine == t)) for t in subs]), int(a))
        for t, b in zip(subs, sub_share):
            pick(free & (fine == t), int(b))
    if len(picks) < n:  # odd displays (outside every group) when nothing else is left
        rest = free.copy()
        rest[picks] = False
        pick(rest, min(n - len(picks), int(rest.sum())))
    return picks


def suggest(data: OpalData | str | os.PathLike[str], labels: str | os.PathLike[str] | None = None,
            n: int = 10, seed: int = DEFAULT_SEED, size: int = 100,
            crop: tuple[int, int, int, int] | None = None) -> list[str]:
    """Names of the ``n`` event displays the class should label next.

    ``data``: an :class:`~eventcnn.opal.OpalData` (its ``labels`` count as the
    labels so far) or the zip/folder of displays, then with ``labels`` the
    label file so far (absent or empty: nothing labelled yet). Returns event
    names as written in label files (``<name>.png``), never one that is already
    labelled, no duplicates, the same for the same seed. Displays are read at
    ``size`` pixels (after ``crop``, for raw displays), enough for the features.

    Example::

        suggest("centered-masked-rotated1.zip", "my_labels.csv", n=10, seed=0)
        # ['z5301_3017.png', ...]
    """
    if not isinstance(data, OpalData):
        source = data
        lab_path = None
        if labels is not None and Path(labels).is_dir():
            raise UserError(f"label file {labels} is a folder, not a file: give the label file itself")
        if labels is not None and Path(labels).is_file() and Path(labels).stat().st_size > 0:
            lab_path = labels
        with warnings.catch_warnings():  # unlabelled images are the point here, not a problem
            warnings.simplefilter("ignore")
            data = load_displays(data, lab_path, size=size, crop=crop, quiet=True)
        if msg := data.report.unreadable_message(source):  # broken files never pass silently
            warnings.warn(msg, UserWarning, stacklevel=2)
    idx = suggest_indices(data.images, data.labels, n=n, seed=seed)
    return [f"{name}.png" for name in data.names[idx]]


def pseudo_labels(images: np.ndarray, labels: Sequence[str] | np.ndarray, threshold: float = 0.8,
                  seed: int = 0, features: np.ndarray | None = None) -> np.ndarray:
    """Labels plus confident guesses for unlabelled displays (self-training input).

    A class-balanced logistic regression on :func:`image_features` (the
    classifier of :func:`suggest`) labels every unlabelled display whose most
    likely class has probability >= ``threshold``; the others stay "". Given
    labels are never changed. Returns a new array of class codes.

    Example::

        y = pseudo_labels(data.images, data.labels, threshold=0.8)
        use = y != ""
        opal.train(data.images[use], y[use], epochs=12)
    """
    if not 0.0 < threshold <= 1.0:
        raise UserError(f"threshold must be in (0, 1], got {threshold}")
    labels = np.asarray(labels)
    if len(labels) != len(images):
        raise UserError(f"{len(images)} images but {len(labels)} labels")
    z = embed(image_features(np.asarray(images)), seed=seed) if features is None else features
    s = scores(z, labels, seed=seed)
    guess = np.array(CLASS_NAMES)[s["proba"].argmax(axis=1)]
    sure = (labels == "") & (s["proba"].max(axis=1) >= threshold)
    return np.where(sure, guess, labels).astype(labels.dtype if labels.dtype.kind == "U" else "<U1")
