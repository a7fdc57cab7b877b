"""The shipped simulation-pretrained masterclass weights: where they are, sha256-checked (no Keras).

``opal_sim.weights.h5`` (the masterclass CNN without its augmentation stage,
trained on simulated displays by ``eventcnn opal pretrain``) and
``opal_sim.json`` (its sha256, settings, the command that reproduces it and its
figures). Nothing is downloaded: the files ship with the package.

Example::

    from eventcnn.opal.weights import resolve_weights, shipped_weights
    shipped_weights()          # Path of the verified opal_sim.weights.h5
    resolve_weights("none")    # None: start from random weights
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from eventcnn._io import sha256sum
from eventcnn.errors import UserError

__all__ = ["DEFAULT_WEIGHTS", "default_weights", "OPAL_WEIGHTS_DIR", "resolve_weights", "SHIPPED_NAME",
           "shipped_weights", "weights_image_size"]

OPAL_WEIGHTS_DIR = Path(__file__).resolve().parent
SHIPPED_NAME = "opal_sim"

#: the starting weights of ``eventcnn opal train`` (``--weights``) when they fit the displays
#: (:func:`default_weights`): fine-tuned from 50 suggested labels they scored 0.954 against 0.782
#: from random weights on the same labels (docs/benchmarks.md)
DEFAULT_WEIGHTS = "sim"


def shipped_weights(directory: str | os.PathLike[str] | None = None, name: str = SHIPPED_NAME) -> Path:
    """The verified shipped ``<name>.weights.h5`` (sha256 as recorded in ``<name>.json``).

    Raises :class:`eventcnn.errors.UserError` when the files are missing or the
    weights' sha256 differs (a damaged installation); nothing is downloaded.

    Example::

        path = shipped_weights()
    """
    d = Path(directory) if directory is not None else OPAL_WEIGHTS_DIR
    meta_file, path = d / f"{name}.json", d / f"{name}.weights.h5"
    if not meta_file.is_file() or not path.is_file():
        raise UserError(f"no simulation-pretrained OPAL weights {name!r} in {d}: reinstall eventcnn or "
                        "make them with 'eventcnn opal pretrain'")
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{meta_file}: not readable JSON ({exc}); reinstall eventcnn") from exc
    digest = sha256sum(path)
    if digest != meta.get("sha256"):
        raise UserError(f"OPAL weights {path} are damaged: sha256 {digest} differs from "
                        f"{meta.get('sha256')} recorded in {meta_file.name}; reinstall eventcnn")
    return path


def default_weights(size: int) -> tuple[str, str]:
    """The default starting weights for ``size`` x ``size`` displays, and a sentence saying which.

    ``"sim"`` when the shipped weights are installed, intact and made for
    ``size`` px displays; else ``"none"`` (random weights) and why.

    Example::

        default_weights(200)   # ("sim", "started from the simulation-pretrained weights opal_sim.weights.h5")
    """
    try:
        path = shipped_weights()
        made_for = weights_image_size(path)
    except UserError as exc:
        return "none", f"no usable simulation-pretrained weights ({exc}): trained from scratch"
    if made_for != size:
        return "none", (f"the simulation-pretrained weights are for {made_for} px displays, these are "
                        f"{size} px: trained from scratch")
    return "sim", f"started from the simulation-pretrained weights {path.name}"


def resolve_weights(weights: str | os.PathLike[str] | None) -> Path | None:
    """``None``/``"none"`` -> None, ``"sim"`` -> the shipped file, else the given ``.weights.h5`` path.

    Example::

        >>> resolve_weights("none") is None
        True
    """
    if weights is None or (isinstance(weights, str) and weights.strip().lower() in ("", "none")):
        return None
    if isinstance(weights, str) and weights.strip().lower() == "sim":
        return shipped_weights()
    path = Path(weights)
    if not path.is_file() or not path.name.endswith(".weights.h5"):
        raise UserError(f"--weights {weights}: use 'sim', 'none' or an existing .weights.h5 file "
                        "(from 'eventcnn opal pretrain')")
    return path


def weights_image_size(path: str | os.PathLike[str]) -> int | None:
    """The display size (px) that ``<name>.weights.h5`` was made for, from the ``<name>.json`` beside it.

    ``None`` when there is no such file or it records no size (weights from
    elsewhere); a damaged file is a :class:`~eventcnn.errors.UserError`.

    Example::

        weights_image_size(shipped_weights())   # 200
    """
    meta = Path(str(path).removesuffix(".weights.h5") + ".json")
    if not meta.is_file():
        return None
    try:
        made_for = json.loads(meta.read_text()).get("image_size")
        return None if made_for is None else int(made_for)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise UserError(f"{meta}: not the .json that 'eventcnn opal pretrain' writes beside its weights "
                        f"({type(exc).__name__}: {exc}); make the weights again or remove the .json") from None
