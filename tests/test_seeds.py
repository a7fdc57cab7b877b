"""eventcnn.seeds: one rule derives every piece's seed (the same values as the rules it replaced)."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np

import eventcnn
from eventcnn.seeds import DEFAULT_SEED, PYTHIA_SEED_MAX, derive_rng, derive_seed, pythia_seed


def _old_chunk_seed(seed: int, chunk: int) -> int:  # events.generate before eventcnn.seeds
    state = np.random.SeedSequence([int(seed), int(chunk)]).generate_state(1, np.uint64)[0]
    return int(state % np.uint64(900_000_000)) + 1


def _old_event_seed(seed: int, k: int, index: int) -> int:  # opal.simulate before eventcnn.seeds
    state = np.random.SeedSequence([int(seed), k, int(index)]).generate_state(1, np.uint64)[0]
    return int(state % np.uint64(900_000_000)) + 1


def _old_sample_seed(seed: int, name: str, index: int) -> int:  # images.augment before eventcnn.seeds
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode()), int(index)])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def test_same_values_as_the_rules_it_replaced():
    for seed in (0, 1, 42, 2**31 + 5):
        for k in range(4):
            assert pythia_seed(seed, k) == _old_chunk_seed(seed, k)
            assert pythia_seed(seed, k, 17) == _old_event_seed(seed, k, 17)
    for seed in (-1, 0, 42, 2**32 - 1):
        assert derive_seed(seed, "ttjets", 3) == _old_sample_seed(seed, "ttjets", 3)
    rng = np.random.default_rng(np.random.SeedSequence([7, 2, 1]))
    assert derive_rng(7, 2, 1).random() == rng.random()


def test_seeds_are_in_range_and_independent():
    seeds = [pythia_seed(s, c) for s in range(5) for c in range(20)]
    assert len(set(seeds)) == len(seeds) and all(1 <= s <= PYTHIA_SEED_MAX for s in seeds)
    assert all(0 <= derive_seed(3, k) < 2**32 for k in range(50))
    assert derive_seed(3, "a", 0) != derive_seed(3, "b", 0)
    assert eventcnn.DEFAULT_SEED == DEFAULT_SEED


def test_one_home_for_seed_derivation():
    """No other module builds a SeedSequence or writes a default seed."""
    package = Path(eventcnn.__file__).parent
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if p.name != "seeds.py" and re.search(r"SeedSequence\(|^DEFAULT_SEED\s*=", p.read_text(), re.M)]
    assert not offenders, offenders
