"""Benchmark: are the up-front memory estimates of eventcnn.limits upper bounds? What does the content key cost?

Three figures, each a ratio against a reference measured in the same run:

1. ``render``: peak RSS of drawing images (``render_to_dir``, 1 process, 40 real CMS
   tt+jets events, ``--selection none``) at 224, 512 and 1024 px, each in a fresh
   subprocess, against ``limits.render_memory(size)``. Target: measured / estimate <= 1
   (the estimate must not let through work that does not fit).
2. ``events``: Python memory of the real CMS tt+jets events held as JSON records
   (``tracemalloc`` peak of ``json.load``, what ``generate`` holds before writing)
   against ``limits.BYTES_PER_GENERATED_EVENT``. Target: ratio <= 1.
3. ``cache key``: seconds to key N PNG images by content (``learn.cache.cache_key``,
   every file read and hashed) against the old key over ``os.stat`` (size, mtime),
   same files, same run (information: the price of "keyed by content").

Usage::

    python bench/limits_memory.py [--images 5000] [--workdir /tmp/limitsbench]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EVENTCNN_SHARED_DATA", ROOT.parent / "shared" / "data"))

_CHILD = """
import json, sys
from pathlib import Path
from eventcnn.images.render import RenderConfig, render_to_dir
src, out, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
render_to_dir([(src, "tt")], out, RenderConfig(size=size), selection="none", quiet=True)
hwm = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"peak_rss": hwm}))
"""


def _stat_key(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        st = os.stat(f)
        h.update(f"{os.path.abspath(f)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--workdir", default="/tmp/limitsbench")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from eventcnn.learn.cache import cache_key
    from eventcnn.learn.dataset import make_toy_images
    from eventcnn.limits import BYTES_PER_GENERATED_EVENT, format_bytes, render_memory

    tt = SHARED / "cms" / "TTjets_json.json"
    if not tt.exists():
        print(f"needs the development data: {tt}")
        return 2
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; python {platform.python_version()}")

    data = json.loads(tt.read_text())
    few = work / "tt40.json"
    few.write_text(json.dumps({"Event": dict(list(data["Event"].items())[:40])}))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EVENTCNN_QUIET": "1"}
    print("\n1. render: peak RSS (fresh process) vs limits.render_memory")
    for size in (224, 512, 1024):
        res = subprocess.run([sys.executable, "-c", _CHILD, str(few), str(work / f"img{size}"), str(size)],
                             env=env, capture_output=True, text=True, check=True)
        peak = json.loads(res.stdout.strip().splitlines()[-1])["peak_rss"]
        est = render_memory(size)
        print(f"  {size:5d} px: measured {format_bytes(peak)}, estimate {format_bytes(est)}, "
              f"measured/estimate {peak / est:.2f}")

    print("\n2. events held in memory: tracemalloc peak of json.load per event vs BYTES_PER_GENERATED_EVENT")
    tracemalloc.start()
    loaded = json.loads(tt.read_text())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_event = peak / len(loaded["Event"])
    print(f"  {len(loaded['Event'])} events: {per_event:,.0f} bytes/event, estimate {BYTES_PER_GENERATED_EVENT:,}, "
          f"measured/estimate {per_event / BYTES_PER_GENERATED_EVENT:.2f}")

    print(f"\n3. cache key over {args.images} PNG images (64 px): content (read + BLAKE2) vs stat (size, mtime)")
    folder = make_toy_images(work / "toy", n_per_class=args.images // 2, size=64, seed=0)
    files = sorted(folder.rglob("*.png"))
    t0 = time.perf_counter()
    _stat_key(files)
    t_stat = time.perf_counter() - t0
    t0 = time.perf_counter()
    cache_key(files, 64)
    t_content = time.perf_counter() - t0
    print(f"  stat key {t_stat:.3f} s, content key {t_content:.3f} s ({t_content / t_stat:.1f}x the stat key; "
          f"{1000 * t_content / len(files):.3f} ms per image)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
