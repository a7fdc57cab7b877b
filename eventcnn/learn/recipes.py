"""Recipes for training on labelled images held in memory: the OPAL masterclass's and ours (no Keras).

:class:`RecipeConfig` holds every setting of a training by
:func:`eventcnn.learn.train_arrays.train_arrays`; :func:`recipe_config` turns a
recipe name and the settings a user gave into the recipe as it will run (the
policy: epochs per recipe, fewer epochs for small label sets, fine-tuning
settings from pretrained weights). The command line reads its defaults from
here and never restates them.

- ``original`` (the masterclass): every labelled image copied ``copies`` times
  with a random rotation and mirror, leptons ``lepton_factor`` times more, the
  copies split for validation, :data:`RECIPE_EPOCHS` ``["original"]`` epochs;
- ``default`` (ours): a stratified validation share held out, class-balanced
  batches augmented inside the model, early stopping on the class-balanced
  validation loss, up to :data:`RECIPE_EPOCHS` ``["default"]`` epochs
  (:data:`SMALL_SET_EPOCHS` with fewer than :data:`SMALL_SET` labels).

Example::

    from eventcnn.learn.recipes import recipe_config
    recipe_config("original").epochs                    # 3
    recipe_config("default", n_labels=50).epochs        # 12
    recipe_config("default", n_labels=50, weights="sim").learning_rate   # 3e-05 (fine-tuning)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from eventcnn import DEFAULT_SEED
from eventcnn.errors import UserError
from eventcnn.images.opal_displays import CLASS_NAMES
from eventcnn.learn.loop import LoopSettings
from eventcnn.limits import MAX_EPOCHS, check_batch_size, check_count

__all__ = ["FINE_TUNE", "RECIPE_EPOCHS", "RECIPES", "RecipeConfig", "SMALL_SET", "SMALL_SET_EPOCHS",
           "loop_settings", "recipe_config", "recipe_copies"]

#: the recipes: the masterclass's own and ours
RECIPES = ("original", "default")

#: epochs when none are given: the masterclass trained 3; ours stops early, after at most 40
RECIPE_EPOCHS = {"original": 3, "default": 40}

#: Default recipe with fewer labelled events than SMALL_SET and no explicit
#: ``epochs``: at most SMALL_SET_EPOCHS epochs (< 2 minutes on 2 CPU cores).
SMALL_SET, SMALL_SET_EPOCHS = 100, 12

#: Default recipe starting from pretrained weights (``weights="sim"`` or a file):
#: the settings of the fine-tuning unless given explicitly. A small learning
#: rate, and three quarters of every batch simulated displays (``sim_displays`` of them,
#: made on the fly by :func:`eventcnn.learn.batches.simulated_batch_pool`), so that
#: 50 real labels adapt the network to the real displays without undoing what it
#: learnt from simulation (``bench/opal_active.py --arms sim``, docs/benchmarks.md).
FINE_TUNE: dict[str, Any] = {"learning_rate": 3e-5, "sim_displays": 2000, "sim_share": 0.75}


@dataclass
class RecipeConfig:
    """Training settings; ``recipe`` is ``"original"`` or ``"default"``.

    original: every training image is copied ``copies`` times with a random
    rotation (0-360 deg) and a random mirror, leptonic classes (e, m, t)
    ``lepton_factor`` times more (the masterclass used 20, its later solution 60),
    the copies shuffled and split ``val_fraction`` for validation, then trained
    for ``epochs`` epochs in batches of 32 (Keras' default, as in the masterclass). The copies are
    generated lazily per batch from the ``uint8`` originals (same numbers as
    materialising them, a fraction of the memory).

    default: a stratified ``val_fraction`` of the originals is held out;
    training batches are drawn class-balanced (``balance="sampling"``) or with
    class weights (``balance="weights"``), rotated and mirrored on the fly
    inside the model, ``steps_per_epoch`` batches of 16 per epoch, early stopping on
    the validation loss with ``patience``, best weights restored. The validation
    loss is class-balanced (sample weights), like the training batches, so that
    the few leptons count as much as the many hadrons.

    epochs: ``None`` means the recipe's own (:data:`RECIPE_EPOCHS`).

    weights: the starting weights: ``None`` (random, seeded), ``"sim"`` (the
    shipped simulation-pretrained network, :mod:`eventcnn.learn.weights`)
    or a ``.weights.h5`` file from ``eventcnn opal pretrain``; :func:`recipe_config`
    then fine-tunes with :data:`FINE_TUNE` unless those fields are given.

    sim_displays, sim_share (default recipe): ``sim_displays`` simulated
    displays (equal per class, seeded by ``seed``; 0 = none) are made before
    training and ``sim_share`` of every training batch is drawn from them
    (class-balanced); the rest of the batch, and all of the validation, are the
    real labelled displays.
    """

    recipe: str = "default"
    epochs: int | None = None
    batch_size: int | None = None
    seed: int = DEFAULT_SEED
    val_fraction: float = 0.2
    copies: int = 3
    lepton_factor: int = 20
    balance: str = "sampling"
    steps_per_epoch: int = 32
    patience: int = 8
    learning_rate: float = 1e-3
    weights: str | None = None
    sim_displays: int = 0
    sim_share: float = 0.5

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise UserError(f"recipe must be 'original' or 'default', got {self.recipe!r}")
        if self.epochs is None:
            self.epochs = RECIPE_EPOCHS[self.recipe]
        if self.batch_size is None:  # Keras' 32 as in the masterclass; 16 keeps ours < 1.5 GB
            self.batch_size = 32 if self.recipe == "original" else 16
        if self.balance not in ("sampling", "weights", "none"):
            raise UserError(f"balance must be 'sampling', 'weights' or 'none', got {self.balance!r}")
        for name in ("epochs", "batch_size", "copies", "lepton_factor", "steps_per_epoch"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_count("--epochs", self.epochs, 1, MAX_EPOCHS)
        check_batch_size(self.batch_size)
        check_count("--lepton-factor", self.lepton_factor, 1, 1000, hint="the masterclass used 20, later 60")
        check_count("copies", self.copies, 1, 1000)
        if not 0.0 <= self.val_fraction < 1.0:
            raise UserError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.sim_displays:
            if self.sim_displays < len(CLASS_NAMES):
                raise UserError(f"sim_displays must be 0 (no simulated displays) or at least "
                                f"{len(CLASS_NAMES)} (one per class), got {self.sim_displays}")
            check_count("sim_displays", self.sim_displays, len(CLASS_NAMES), 20000)
            if self.recipe != "default":
                raise UserError("sim_displays works with the default recipe only (recipe='default')")
        if not 0.0 < self.sim_share < 1.0:
            raise UserError(f"sim_share must be in (0, 1), got {self.sim_share}")

    def factors(self) -> dict[str, int]:
        """Copies per original image and class under the original recipe."""
        return {c: self.copies * (1 if c == "q" else self.lepton_factor) for c in CLASS_NAMES}


def _pretrained(weights: Any) -> bool:
    return weights is not None and str(weights).strip().lower() not in ("", "none")


def recipe_config(recipe: str | RecipeConfig = "default", n_labels: int | None = None,
                  **overrides: Any) -> RecipeConfig:
    """The recipe as it will run, from a recipe name (or config) and the settings given.

    ``overrides`` set fields (``epochs=3``, ``weights="sim"``, ...). For the
    default recipe named by its name: without ``epochs`` and with fewer than
    :data:`SMALL_SET` labels (``n_labels``) at most :data:`SMALL_SET_EPOCHS`
    epochs (early stopping rarely fires on a tiny validation set); starting from
    pretrained ``weights``, the fine-tuning settings :data:`FINE_TUNE` unless
    given. A :class:`RecipeConfig` passed in is taken as it is.

    Example::

        >>> recipe_config("default", n_labels=30).epochs
        12
    """
    explicit = isinstance(recipe, RecipeConfig)
    config = recipe if explicit else RecipeConfig(recipe=recipe)
    if overrides:
        config = RecipeConfig(**{**asdict(config), **overrides})
    if explicit or config.recipe != "default":
        return config
    if "epochs" not in overrides and n_labels is not None and n_labels < SMALL_SET:
        config.epochs = min(config.epochs, SMALL_SET_EPOCHS)
    if _pretrained(config.weights):  # fine-tuning pretrained weights
        config = RecipeConfig(**{**asdict(config), **{k: v for k, v in FINE_TUNE.items() if k not in overrides}})
    return config


def recipe_copies(y: np.ndarray, config: RecipeConfig) -> dict[str, np.ndarray]:
    """The original recipe's copies, as index arrays: source image, angle, mirror, split.

    Returns ``source`` (int, index of the original image), ``angle`` (degrees,
    integers 0-359 as in the masterclass), ``mirror`` (bool), ``train`` (bool;
    False for the validation share). The copies are shuffled; nothing is
    materialised, and the same seed gives the same copies.

    Example::

        copies = recipe_copies(np.array([0, 1, 0]), RecipeConfig(recipe="original"))
        np.bincount(copies["source"])   # [3, 60, 3]
    """
    rng = np.random.default_rng(config.seed)
    per_class = np.array([config.factors()[c] for c in CLASS_NAMES])
    source = np.repeat(np.arange(len(y)), per_class[y])
    source = source[rng.permutation(len(source))]
    angle = rng.integers(0, 360, size=len(source)).astype(np.float32)
    mirror = rng.integers(0, 2, size=len(source)).astype(bool)
    n_val = int(round(config.val_fraction * len(source)))
    train = np.ones(len(source), dtype=bool)
    train[len(source) - n_val:] = False
    return {"source": source, "angle": angle, "mirror": mirror, "train": train}


def loop_settings(config: RecipeConfig, has_validation: bool) -> LoopSettings:
    """The shared loop's settings for a recipe (:mod:`eventcnn.learn.loop`).

    default: early stopping on the class-balanced validation loss with
    ``patience``, the best epoch's weights kept (Keras' ``EarlyStopping`` with
    ``restore_best_weights``). original: all ``epochs``, the last weights kept,
    as in the masterclass. Without validation data: the last weights.
    """
    if config.recipe == "default" and has_validation:
        return LoopSettings(monitor="val_loss", patience=config.patience, min_delta=0.0, restore_best=True)
    return LoopSettings(monitor=None, patience=None)
