"""The shipped simulation-pretrained weights of every network, sha256-checked on load (no Keras).

Each shipped entry is a pair of files in this folder: ``<name>.weights.h5`` and
``<name>.json`` (the network's registry key ``backbone``, ``image_size``, the
sha256 of the weights file, the recipe and the command that reproduces it,
its figures; written by :func:`eventcnn.learn.pretrain.run_pretrain`). Shipped
today:

- ``sim_small_64``: the ``small`` backbone (no head) pretrained on generated
  tt / W / Drell-Yan / ZZ events at 64 px (``eventcnn pretrain``);
- ``opal_sim``: the OPAL masterclass CNN (without its augmentation stage)
  pretrained on simulated displays at 200 px (``eventcnn opal pretrain``), the
  default start of ``eventcnn opal train`` (:data:`DEFAULT_WEIGHTS`).

``weights="sim"`` picks the shipped file of the network and image size;
``"sim:<name>"`` picks one by name. Nothing is downloaded: a network or size
without shipped weights, or a damaged file, is one clear error that lists what
is available.

Example::

    from eventcnn.learn.weights import available, resolve_weights
    [e["name"] for e in available()]                       # ['opal_sim', 'sim_small_64']
    resolve_weights("sim", "small", (64, 64, 3))           # Path of the verified .weights.h5
    resolve_weights("none", "masterclass")                 # None: random weights
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventcnn._io import sha256sum
from eventcnn.errors import UserError

__all__ = ["DEFAULT_WEIGHTS", "SIM_PREFIX", "WEIGHTS_DIR", "available", "check_weights_size", "default_weights",
           "is_shipped", "resolve_weights", "weights_image_size"]

WEIGHTS_DIR = Path(__file__).resolve().parent
SIM_PREFIX = "sim"

#: the starting weights of ``eventcnn opal train`` (``--weights``) when they fit the displays
#: (:func:`default_weights`): fine-tuned from 50 suggested labels they scored 0.954 against 0.782
#: from random weights on the same labels (docs/benchmarks.md)
DEFAULT_WEIGHTS = "sim"


def is_shipped(weights: object) -> bool:
    """True for ``"sim"`` and ``"sim:<name>"`` (the shipped-weights spellings)."""
    if not isinstance(weights, str):
        return False
    w = weights.strip().lower()
    return w == SIM_PREFIX or w.startswith(SIM_PREFIX + ":")


def available(directory: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Metadata of every shipped entry (the ``<name>.json`` files that have their weights file)."""
    d = Path(directory) if directory is not None else WEIGHTS_DIR
    out = []
    for meta_file in sorted(d.glob("*.json")):
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(meta, dict) or "backbone" not in meta or "image_size" not in meta:
            continue
        if (d / f"{meta_file.stem}.weights.h5").exists():
            out.append({"name": meta_file.stem, **meta})
    return out


def _describe(entries: Sequence[dict[str, Any]]) -> str:
    if not entries:
        return "none are shipped with this installation"
    return "available: " + ", ".join(
        f"{e['name']} (backbone {e['backbone']!r}, image size {e['image_size']})" for e in entries
    )


def _shipped(weights: str, backbone: str, input_shape: Sequence[int] | None, d: Path) -> Path:
    """The verified shipped file of ``"sim"``/``"sim:<name>"`` for a network (and input size, when given)."""
    entries = available(d)
    name = weights.strip().split(":", 1)[1] if ":" in weights else None
    if name is not None:
        matches = [e for e in entries if e["name"] == name]
        if not matches:
            raise UserError(f"no shipped weights named {name!r}; {_describe(entries)}")
    else:
        matches = [e for e in entries if e["backbone"] == backbone]
        if not matches:
            raise UserError(
                f"no simulation-pretrained weights are shipped for backbone {backbone!r}; {_describe(entries)}. "
                "Use --model small (or weights=None / imagenet), or pretrain your own with `eventcnn pretrain`"
            )
    h = w = None if input_shape is None else int(input_shape[0])
    if input_shape is not None:
        w = int(input_shape[1])
    entry = matches[0] if name is not None else next(
        (e for e in matches if int(e["image_size"]) == h == w), matches[0]
    )
    if entry["backbone"] != backbone:
        raise UserError(
            f"shipped weights {entry['name']!r} are for backbone {entry['backbone']!r}, not {backbone!r}; "
            f"{_describe(entries)}"
        )
    size = int(entry["image_size"])
    if input_shape is not None and (h, w) != (size, size):
        raise UserError(
            f"shipped weights {entry['name']!r} were trained on {size}x{size} images, the model input is {h}x{w}; "
            f"render or resize to {size} px (--size {size}); {_describe(entries)}"
        )
    path = d / f"{entry['name']}.weights.h5"
    digest = sha256sum(path)
    if digest != entry.get("sha256"):
        raise UserError(
            f"shipped weights {path} are damaged: sha256 {digest} differs from {entry.get('sha256')} "
            f"recorded in {entry['name']}.json; reinstall eventcnn"
        )
    return path


def resolve_weights(weights: str | os.PathLike[str] | None, backbone: str,
                    input_shape: Sequence[int] | None = None,
                    directory: str | os.PathLike[str] | None = None) -> Path | None:
    """The starting weights of a network as a file: ``None``/``"none"`` -> None (random weights),
    ``"sim"``/``"sim:<name>"`` -> the verified shipped file, else the given weights file.

    ``input_shape``: the model's input; shipped weights must be made for its
    size (without it the first shipped entry of ``backbone`` is taken). A
    shipped file whose sha256 differs from its ``.json`` (a damaged
    installation), a name that is not shipped and a file that does not exist
    are errors that say what to use instead.

    Example::

        >>> resolve_weights("none", "masterclass") is None
        True
    """
    if weights is None or (isinstance(weights, str) and weights.strip().lower() in ("", "none")):
        return None
    if is_shipped(weights):
        return _shipped(str(weights), backbone, input_shape,
                        Path(directory) if directory is not None else WEIGHTS_DIR)
    path = Path(weights)
    if not path.is_file() or not path.name.endswith((".h5", ".keras")):
        raise UserError(f"--weights {weights}: use 'sim', 'none' or an existing weights file (.weights.h5 from "
                        "'eventcnn pretrain' or 'eventcnn opal pretrain')")
    return path


def default_weights(size: int, backbone: str = "masterclass") -> tuple[str, str]:
    """The default starting weights for ``size`` x ``size`` images, and a sentence saying which.

    ``"sim"`` (:data:`DEFAULT_WEIGHTS`) when shipped weights of ``backbone`` (the
    masterclass CNN: the default of ``eventcnn opal train``) are installed,
    intact and made for ``size`` px images; else ``"none"`` (random weights) and why.

    Example::

        default_weights(200)   # ("sim", "started from the simulation-pretrained weights opal_sim.weights.h5")
    """
    try:
        path = _shipped(DEFAULT_WEIGHTS, backbone, None, WEIGHTS_DIR)
        made_for = weights_image_size(path)
    except UserError as exc:
        return "none", f"no usable simulation-pretrained weights ({exc}): trained from scratch"
    if made_for != size:
        return "none", (f"the simulation-pretrained weights are for {made_for} px displays, these are "
                        f"{size} px: trained from scratch")
    return DEFAULT_WEIGHTS, f"started from the simulation-pretrained weights {path.name}"


def weights_image_size(path: str | os.PathLike[str]) -> int | None:
    """The image size (px) that ``<name>.weights.h5`` was made for, from the ``<name>.json`` beside it.

    ``None`` when there is no such file or it records no size (weights from
    elsewhere); a damaged file is a :class:`~eventcnn.errors.UserError`.

    Example::

        weights_image_size(resolve_weights("sim", "masterclass"))   # 200
    """
    meta = Path(str(path).removesuffix(".weights.h5") + ".json")
    if not meta.is_file():
        return None
    try:
        made_for = json.loads(meta.read_text()).get("image_size")
        return None if made_for is None else int(made_for)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise UserError(f"{meta}: not the .json that 'eventcnn pretrain' writes beside its weights "
                        f"({type(exc).__name__}: {exc}); make the weights again or remove the .json") from None


def check_weights_size(path: str | os.PathLike[str], size: int) -> None:
    """Refuse weights made for other than ``size`` px images (as recorded in the ``.json`` beside them).

    ``eventcnn pretrain`` / ``eventcnn opal pretrain`` write ``<name>.json`` with
    ``image_size`` next to ``<name>.weights.h5``; without it nothing is checked
    here (Keras then refuses a wrong shape when loading).
    """
    made_for = weights_image_size(path)
    if made_for is not None and made_for != size:
        raise UserError(f"{path}: made for {made_for} px displays, these are {size} px: load the displays "
                        f"at {made_for} px (--size {made_for}) or start from random weights (--weights none)")
