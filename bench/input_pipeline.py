"""Input pipeline: decoded-image cache (eventcnn.learn.cache) vs decoding PNGs per batch.

Measures, in one process and on the same images, how many training images per
second each input path delivers to ``model.fit`` (batches of ``uint8``
``(B, S, S, 3)`` fetched by ``--workers`` threads, as Keras' PyDataset does):

* ``png``: :class:`eventcnn.learn.dataset.ImageSequence` decodes (and resizes) the PNG
  files of every batch with PIL;
* ``cache``: :class:`eventcnn.learn.cache.CachedImageSequence` slices a memory-mapped
  ``uint8`` cache (built once, timed separately), shuffled every epoch, full batches only.

Without ``--data`` it renders the CMS events of ``../shared/data/cms`` (or the
bundled example events) at ``--size`` into a temporary folder. The last
line is the steady-state cache throughput, ``N img/s``.

Usage::

    python bench/input_pipeline.py --size 224 --batch-size 64
    python bench/input_pipeline.py --data CreatedImages --size 224 --batch-size 64
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def render_folder(out: Path, size: int, quiet: bool, limit: int | None = None) -> Path:
    """Render the CMS development events (no selection; ``limit`` per file) as ``size`` px images into ``out``."""
    from eventcnn.images.render import RenderConfig, render_to_dir

    cms = REPO.parent / "shared" / "data" / "cms"
    inputs = [(cms / "TTjets_json.json", "ttjets"), (cms / "Wjets_json.json", "wjets")]
    if not all(p.exists() for p, _ in inputs):
        ex = REPO / "eventcnn" / "events" / "examples"
        inputs = [(ex / f"example_{k}.json.gz", k) for k in ("ttjets", "wjets", "dy")]
    render_to_dir(inputs, out, RenderConfig(size=size), selection=None, jobs=os.cpu_count() or 1, limit=limit,
                  quiet=quiet)
    return out


def rss_split() -> str:
    """Resident memory now, anonymous (heap) vs file-backed (memory maps), from /proc (Linux)."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        return f"anonymous {int(fields['RssAnon'].split()[0]) / 1024:.0f} MiB, file {int(fields['RssFile'].split()[0]) / 1024:.0f} MiB"
    except (OSError, KeyError, ValueError):
        return "n/a"


def images_per_s(seq, n_batches: int, workers: int) -> float:
    """Images/s of fetching the first ``n_batches`` batches of ``seq`` with ``workers`` threads."""
    n_batches = min(n_batches, len(seq))
    t0 = time.perf_counter()
    n = 0
    with ThreadPoolExecutor(workers) as pool:
        for batch in pool.map(seq.__getitem__, range(n_batches)):
            n += len(batch[0])
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="decoded-image cache vs PNG decoding: images/s")
    p.add_argument("--data", default=None, help="image folder (default: render the CMS events into a temp folder)")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2, help="threads fetching batches (as PyDataset workers)")
    p.add_argument("--png-batches", type=int, default=12, help="batches timed on the PNG path (it is slow)")
    p.add_argument("--epochs", type=int, default=3, help="cache epochs timed (the first counts as warm-up)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    with tempfile.TemporaryDirectory(prefix="eventcnn_input_") as tmp:
        data = Path(args.data) if args.data else render_folder(Path(tmp) / "images", args.size, args.quiet)
        from eventcnn.learn.cache import CachedImageSequence, ensure_cache
        from eventcnn.learn.dataset import ImageSequence, list_images, make_split, split_arrays

        items, names = list_images(data)
        split = make_split(items, names, fractions=(1.0, 0.0, 0.0), seed=0)
        files, labels = split_arrays(split, "train", data)
        print(f"{len(files)} images in {data}, {args.size} px, batch {args.batch_size}, "
              f"{args.workers} threads, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}", flush=True)

        png = ImageSequence(files, labels, batch_size=args.batch_size, shuffle=True, seed=0,
                            size=args.size)
        png_ips = images_per_s(png, args.png_batches, args.workers)
        print(f"png   (decode per batch): {png_ips:8.0f} img/s", flush=True)

        t0 = time.perf_counter()
        cache = ensure_cache(files, args.size, Path(tmp) / "cache", name="bench", workers=args.workers,
                             quiet=args.quiet)
        build_s = time.perf_counter() - t0
        print(f"cache build (once):       {len(files) / build_s:8.0f} img/s ({build_s:.1f} s, "
              f"{cache.path.stat().st_size / 2**20:.0f} MiB)", flush=True)
        seq = CachedImageSequence(cache, labels, batch_size=args.batch_size, shuffle=True, seed=0,
                                  drop_remainder=True)
        rates = []
        for epoch in range(args.epochs):
            rates.append(images_per_s(seq, len(seq), args.workers))
            seq.on_epoch_end()
            print(f"cache epoch {epoch + 1}:            {rates[-1]:8.0f} img/s", flush=True)
        steady = statistics.median(rates[1:] or rates)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {rss:.0f} MiB; now {rss_split()} (cache file {cache.path.stat().st_size / 2**20:.0f} MiB, "
              "memory-mapped: its pages are file-backed, the kernel drops them under pressure)")
        print(f"cache/png: {steady / png_ips:.1f}x (target: >= 3,000 img/s steady state)")
        print(f"{steady:.0f} img/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
