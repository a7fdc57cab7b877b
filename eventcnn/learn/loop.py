"""The training loop of every model: one Keras ``fit`` per phase, recorded by :class:`RunRecorder`.

CMS runs (:func:`eventcnn.learn.train.train`) and the OPAL masterclass
(:func:`eventcnn.opal.train`) both train through :func:`fit_phase`; they differ
only in the data, the model and the recipe (:class:`LoopSettings`) they pass.
The recorder, after every epoch:

- appends one row ``{"epoch", "phase", <metrics>, "lr", "seconds"}`` to the
  history (the run folder's ``history.json``, see :mod:`eventcnn.learn.runs`);
- keeps the best model by ``monitor`` (``best.keras``; in memory without a run
  folder), or the last one when ``monitor`` is None (no validation data);
- with a run folder, writes ``last.keras`` and ``state.json`` so that a killed
  run resumes where it stopped (the best model and the state change together);
- stops when the validation loss has not improved by ``min_delta`` for
  ``patience`` epochs (never with ``patience=None``);
- with ``restore_best``, sets the model to the best epoch's weights at the end.

Example::

    from eventcnn.learn.loop import LoopSettings, fit_phase
    state, history = fit_phase(model, train_data, val_data, epochs=10,
                               settings=LoopSettings(monitor="val_loss", patience=3, restore_best=True))
    state["best_epoch"], history[-1]["val_loss"]
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventcnn._io import write_json_atomic
from eventcnn.errors import UserError

__all__ = ["BEST_PENDING", "LoopSettings", "fit_phase", "fit_verbosity", "save_model_atomic", "settle_best"]

#: the best model is written here first; state.json names it, then it is renamed to best.keras
BEST_PENDING = ".best.pending.keras"


@dataclass(frozen=True)
class LoopSettings:
    """What the loop keeps and when it stops.

    ``monitor``: ``"val_accuracy"`` (higher is better), ``"val_loss"`` (lower is
    better) or None (no validation: the last epoch counts as the best).
    ``patience``: epochs without a lower validation loss (by more than
    ``min_delta``) before stopping; None never stops early.
    ``restore_best``: end with the weights of the best epoch (else the last).
    """

    monitor: str | None = "val_accuracy"
    patience: int | None = 8
    min_delta: float = 1e-6
    restore_best: bool = False

    def __post_init__(self) -> None:
        if self.monitor not in (None, "val_accuracy", "val_loss"):
            raise UserError(f"monitor must be 'val_accuracy', 'val_loss' or None, got {self.monitor!r}")
        if self.patience is not None and self.patience < 1:
            raise UserError(f"patience must be >= 1 or None, got {self.patience}")


def save_model_atomic(model: Any, path: Path) -> None:
    """Save a Keras model to ``path`` via a temporary file and a rename."""
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def settle_best(out: Path, state: dict[str, Any]) -> None:
    """Finish a best-model update that a kill interrupted (``state.json`` already names it)."""
    pending = out / BEST_PENDING
    if state.pop("best_pending", None) and pending.exists():
        os.replace(pending, out / "best.keras")
    pending.unlink(missing_ok=True)


def _recorder_class():
    import keras

    class RunRecorder(keras.callbacks.Callback):
        """History rows, best/last model, state and early stopping (see the module docstring)."""

        def __init__(self, settings: LoopSettings, state: dict[str, Any], history: list[dict[str, Any]],
                     phase: int, stop_at: int, out: Path | None) -> None:
            super().__init__()
            self.settings, self.state, self.history = settings, state, history
            self.phase, self.stop_at, self.out = phase, stop_at, out
            self.best_weights: list[Any] | None = None
            self._t0 = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()

        def _is_better(self, value: float) -> bool:
            best = self.state.get("best")
            if self.settings.monitor is None or best is None:
                return True
            return value > best if self.settings.monitor == "val_accuracy" else value < best

        def on_epoch_end(self, epoch, logs=None):
            s, st, out = self.settings, self.state, self.out
            logs = {k: float(v) for k, v in (logs or {}).items()}
            seconds = time.perf_counter() - self._t0
            lr = self.model.optimizer.learning_rate
            with contextlib.suppress(Exception):
                lr = float(keras.ops.convert_to_numpy(lr))
            self.history.append({"epoch": epoch + 1, "phase": self.phase, **logs, "lr": lr,
                                 "seconds": round(seconds, 3)})
            if out is not None:
                write_json_atomic(out / "history.json", self.history)
            value = logs.get(s.monitor) if s.monitor else float(epoch + 1)
            if value is None or not math.isfinite(value):
                raise UserError(f"validation metric {s.monitor} missing or not finite at epoch {epoch + 1}: {logs}; "
                                "a lower learning rate or more validation events may help")
            if self._is_better(value):
                st["best"], st["best_epoch"] = (value if s.monitor else None), epoch + 1
                if s.restore_best:
                    self.best_weights = self.model.get_weights()
                if out is not None:
                    # best.keras and state.json change together: model to a pending file, state
                    # names it, then rename (a resume finishes the rename, see settle_best)
                    self.model.save(out / BEST_PENDING)
                    st["best_pending"] = True
                    write_json_atomic(out / "state.json", st)
                    settle_best(out, st)
            if s.patience is not None:
                val_loss = logs.get("val_loss", float("inf"))
                if st.get("best_val_loss") is None or val_loss < st["best_val_loss"] - s.min_delta:
                    st["best_val_loss"], st["wait"] = val_loss, 0
                else:
                    st["wait"] = st.get("wait", 0) + 1
                if st["wait"] >= s.patience and epoch + 1 < self.stop_at:
                    st[f"stopped_early_phase{self.phase}"] = epoch + 1
                    self.model.stop_training = True
            st["epoch"], st["phase"] = epoch + 1, self.phase
            st["train_seconds"] = round(st.get("train_seconds", 0.0) + seconds, 3)
            if out is not None:
                save_model_atomic(self.model, out / "last.keras")
                write_json_atomic(out / "state.json", st)

        def on_train_end(self, logs=None):
            if self.settings.restore_best and self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return RunRecorder


def fit_verbosity(quiet: bool) -> int:
    """Keras ``fit(verbose=...)``: 0 when ``quiet``; the progress bar (1) on a terminal or in
    Jupyter; one line per epoch (2) when standard output is a file or a pipe, where the bar's
    ANSI updates would write one line per step.

    Example::

        >>> fit_verbosity(quiet=True)
        0
    """
    if quiet:
        return 0
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        interactive = bool(isatty and isatty())
    except ValueError:  # a closed stream
        interactive = False
    return 1 if interactive or "ipykernel" in sys.modules else 2


def fit_phase(model: Any, train_data: Any, val_data: Any = None, *, epochs: int, initial_epoch: int = 0,
              settings: LoopSettings = LoopSettings(), phase: int = 1, out: str | os.PathLike[str] | None = None,
              state: dict[str, Any] | None = None, history: list[dict[str, Any]] | None = None,
              class_weight: dict[int, float] | None = None, callbacks: Sequence[Any] = (),
              shuffle_batches: bool = False, quiet: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Train a compiled ``model`` from ``initial_epoch`` up to ``epochs`` (one phase), recorded.

    ``train_data``/``val_data``: anything ``model.fit`` takes (Keras ``PyDataset``
    yielding ``(x, y)`` or ``(x, y, sample_weight)``) that shuffle themselves;
    ``shuffle_batches`` lets Keras also shuffle the order of their batches (its
    ``fit(shuffle=True)``, seeded by ``keras.utils.set_random_seed``). ``out``: a run folder to write
    ``history.json``, ``best.keras``, ``last.keras`` and ``state.json`` to after
    every epoch (None: record in memory only). ``state``/``history`` are updated
    in place (pass a resumed run's) and returned. ``quiet``: no Keras progress output; otherwise
    a progress bar on a terminal and one line per epoch into a file (:func:`fit_verbosity`).

    Example::

        state, history = fit_phase(model, train_seq, val_seq, epochs=5, out="runs/small")
    """
    state = {} if state is None else state
    history = [] if history is None else history
    out_path = Path(out) if out is not None else None
    if settings.monitor is not None and val_data is None:
        raise UserError(f"monitor={settings.monitor!r} needs validation data; pass monitor=None to keep the last epoch")
    recorder = _recorder_class()(settings, state, history, phase, epochs, out_path)
    model.fit(train_data, validation_data=val_data, epochs=epochs, initial_epoch=initial_epoch,
              callbacks=[recorder, *callbacks], verbose=fit_verbosity(quiet), shuffle=shuffle_batches,
              class_weight=class_weight)
    return state, history
