"""Seeds: the default, and the one rule that derives a seed for each piece of a seeded run.

A run with master ``seed`` splits its random work into pieces (a Pythia chunk, a
simulated event, an augmented sample, a task). Each piece draws from its own
seed, derived from the master seed and the piece's keys with numpy's
``SeedSequence`` (:func:`derive_seed`), so the result does not depend on how the
pieces are shared among workers, and resuming redoes exactly the missing ones.
Keys are integers or names (a name counts as its CRC-32).

Example::

    >>> from eventcnn.seeds import derive_seed, pythia_seed
    >>> derive_seed(1, "ttjets", 0) == derive_seed(1, "ttjets", 0) != derive_seed(1, "ttjets", 1)
    True
    >>> 1 <= pythia_seed(7, 3) <= 900_000_000
    True
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["DEFAULT_SEED", "PYTHIA_SEED_MAX", "derive_rng", "derive_seed", "pythia_seed"]

#: the seed of every random step when none is given (library defaults and every command's --seed)
DEFAULT_SEED = 42

#: Pythia 8 accepts seeds 1 ... 900,000,000
PYTHIA_SEED_MAX = 900_000_000


def _word(key: int | str) -> int:
    """A SeedSequence entropy word: a name's CRC-32; a negative integer as its 32-bit two's complement."""
    if isinstance(key, str):
        return zlib.crc32(key.encode())
    value = int(key)
    return value & 0xFFFFFFFF if value < 0 else value


def _entropy(seed: int, keys: tuple[int | str, ...]) -> list[int]:
    return [_word(seed), *(_word(k) for k in keys)]


def derive_seed(seed: int, *keys: int | str, bound: int = 2**32) -> int:
    """The seed (``0 <= s < bound``) of the piece ``keys`` of a run with master ``seed``.

    ``SeedSequence([seed, *keys])``'s first 64-bit word modulo ``bound``; the
    default bound (2**32) gives seeds that every library accepts.

    Example::

        >>> derive_seed(42, 0) != derive_seed(42, 1)
        True
    """
    state = np.random.SeedSequence(_entropy(seed, keys)).generate_state(1, np.uint64)[0]
    return int(state % np.uint64(bound))


def pythia_seed(seed: int, *keys: int | str) -> int:
    """A Pythia 8 seed (1 ... 900,000,000) for the piece ``keys`` of a run with master ``seed``.

    Example::

        >>> pythia_seed(0, 0) == pythia_seed(0, 0) != pythia_seed(0, 1)
        True
    """
    return derive_seed(seed, *keys, bound=PYTHIA_SEED_MAX) + 1


def derive_rng(seed: int, *keys: int | str) -> np.random.Generator:
    """A numpy generator for the piece ``keys`` of a run with master ``seed`` (its own stream).

    Example::

        >>> float(derive_rng(1, 0, 1).random()) == float(derive_rng(1, 0, 1).random())
        True
    """
    return np.random.default_rng(np.random.SeedSequence(_entropy(seed, keys)))
