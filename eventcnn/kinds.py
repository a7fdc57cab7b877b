"""Run folders by kind: which package evaluates, explains and predicts a run.

A run folder records its ``kind`` in ``config.json`` (:data:`eventcnn.learn.runs.RUN_KINDS`):
``cms`` runs (``eventcnn train``) are handled by :mod:`eventcnn.learn`, ``opal``
runs (``eventcnn opal train``) by :mod:`eventcnn.opal`. The commands
``eventcnn evaluate``, ``explain`` and ``predict`` call these functions, so they
never guess from the model's name.

Example::

    from eventcnn import kinds
    kinds.kind_of("runs/opal")          # 'opal'
    metrics = kinds.evaluate("runs/opal")
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventcnn.errors import UserError
from eventcnn.learn import evaluate as _cms_evaluate
from eventcnn.learn import explain as _cms_explain
from eventcnn.learn.runs import run_kind
from eventcnn.opal import explain as _opal_explain
from eventcnn.opal import runs as _opal_runs
from eventcnn.opal.model import MODEL_NAME

__all__ = ["evaluate", "explain", "kind_of", "predict"]


def kind_of(path: str | os.PathLike[str]) -> str:
    """``"cms"`` or ``"opal"``: a run folder's recorded kind, or a ``.keras`` file's model.

    A bare ``.keras`` file is an OPAL model when the network inside is the
    masterclass CNN (read from the archive's ``config.json``, nothing is loaded).
    """
    path = Path(path)
    if path.is_dir():  # the recorded kind; the run's reader checks (and names) the rest of config.json
        try:
            cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cfg = {}
        return run_kind(cfg if isinstance(cfg, dict) else {})
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: give a run folder or a .keras model file")
    try:
        with zipfile.ZipFile(path) as archive:
            name = json.loads(archive.read("config.json")).get("config", {}).get("name")
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        return "cms"  # not readable as a .keras archive: the model loader says what is wrong with it
    return "opal" if name == MODEL_NAME else "cms"


def evaluate(run: str | os.PathLike[str], data: str | os.PathLike[str] | None = None,
             batch_size: int = 64, baseline: bool = True, quiet: bool = False) -> dict[str, Any]:
    """Evaluate a run folder of any kind; ``data`` overrides the data it was trained on."""
    if kind_of(run) == "opal":
        return _opal_runs.evaluate_run(run, data_dir=data, quiet=quiet)
    return _cms_evaluate.evaluate_run(run, data_dir=data, batch_size=batch_size, baseline=baseline,
                                      quiet=quiet)


def explain(run: str | os.PathLike[str], images: Sequence[str | os.PathLike[str]],
            out: str | os.PathLike[str] = "explain", patch: int | None = None,
            stride: int | None = None, quiet: bool = False) -> list[Path]:
    """Occlusion maps of ``images`` with a run folder or ``.keras`` file of any kind."""
    module = _opal_explain if kind_of(run) == "opal" else _cms_explain
    return module.explain_files(run, images, out=out, patch=patch, stride=stride, quiet=quiet)


def predict(run: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]],
            out: str | os.PathLike[str], **kwargs: Any) -> list[dict[str, Any]]:
    """Classify images or event files with a CMS run; OPAL runs are told to use ``opal predict``."""
    if kind_of(run) == "opal":
        raise UserError(f"{run} is an OPAL masterclass run: classify displays with "
                        f"`eventcnn opal predict {run} --data ZIP_OR_FOLDER --out predictions.csv`")
    return _cms_evaluate.predict(run, inputs, out, **kwargs)
