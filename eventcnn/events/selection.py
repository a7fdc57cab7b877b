"""Event selection of the original lepton + jets analysis, with a cut-flow table.

Defaults (``Selection()``, also called ``"paper"``): exactly one lepton
(electron or muon) with tightID, tightIso and pT > 20 GeV; jets count when
they pass tightID, pT > 30 GeV and |eta| < 2.4; a jet is b-tagged when its
discriminant is above the medium working point of the discriminant the events
carry (``events.btag``): CSV 0.679 (2011 JSON), CSVv2 0.8484 and DeepFlavB
0.3093 (2016 NanoAOD), see :data:`BTAG_WORKING_POINTS`.

Example::

    >>> from eventcnn.events import read_events
    >>> from eventcnn.events.selection import Selection
    >>> events = read_events("TTjets_json.json")                   # doctest: +SKIP
    >>> selected, flow = Selection(min_jets=1).apply(events)        # doctest: +SKIP
    >>> print(flow)                                                 # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn.errors import UserError
from eventcnn.events.cms_json import Events, Objects

__all__ = ["BTAG_WORKING_POINTS", "CutFlow", "Selection", "SelectionResult", "get_selection"]

#: Medium working point per b-tag discriminant (``Events.btag``).
BTAG_WORKING_POINTS: dict[str, float] = {"csv": 0.679, "csvv2": 0.8484, "deepflavb": 0.3093}


@dataclass(frozen=True)
class Selection:
    """Object and event cuts. Every threshold is configurable."""

    lepton_pt: float = 20.0
    lepton_eta: float = 2.5
    lepton_tight_id: bool = True
    lepton_tight_iso: bool = True
    n_leptons: int | None = 1  # exactly this many selected leptons (None: no requirement)
    min_leptons: int = 0  # at least this many selected leptons (with n_leptons=None)
    jet_pt: float = 30.0
    jet_eta: float = 2.4
    jet_tight_id: bool = True
    min_jets: int = 0
    btag_csv: float = 0.679  # 2011 CSV (JSON); NanoAOD discriminants use the two below
    btag_csvv2: float = 0.8484  # Jet_btagCSVV2, 2016 medium
    btag_deepflavb: float = 0.3093  # Jet_btagDeepFlavB, 2016 medium
    min_bjets: int = 0
    drop_unselected_objects: bool = True  # images show only selected objects

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Selection:
        """Build from a dict; unknown keys and values of the wrong type are errors that say what is valid."""
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise UserError(f"unknown selection settings {unknown}; valid: {sorted(valid)}")
        for key, value in data.items():
            default = getattr(cls, key)
            if isinstance(default, bool):
                ok, want = isinstance(value, bool), "true or false"
            elif isinstance(default, float):
                ok, want = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
            else:  # counts (n_leptons may be null: no requirement)
                ok = (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or (
                    value is None and key == "n_leptons")
                want = "a whole number >= 0" + (" or null" if key == "n_leptons" else "")
            if not ok:
                raise UserError(f"selection setting {key!r} must be {want}, got {value!r}")
        return cls(**data)

    def needs(self) -> frozenset[str]:
        """The object flags this selection reads (``"muon.tight_id"``, ...): a reader must find them in a file.

        Example::

            >>> sorted(Selection(lepton_tight_iso=False, jet_tight_id=False).needs())
            ['electron.tight_id', 'muon.tight_id']
        """
        out: set[str] = set()
        if self.lepton_tight_id:
            out |= {"electron.tight_id", "muon.tight_id"}
        if self.lepton_tight_iso:
            out |= {"electron.tight_iso", "muon.tight_iso"}
        if self.jet_tight_id:
            out.add("jet.tight_id")
        return frozenset(out)

    def leptons(self, leptons: Objects) -> np.ndarray:
        """Flat mask of the selected electrons or muons."""
        keep = (leptons["pt"] > self.lepton_pt) & (np.abs(leptons["eta"]) < self.lepton_eta)
        if self.lepton_tight_id:
            keep &= leptons["tight_id"]
        if self.lepton_tight_iso:
            keep &= leptons["tight_iso"]
        return keep

    def jets(self, jets: Objects) -> np.ndarray:
        """Flat mask of the selected jets."""
        keep = (jets["pt"] > self.jet_pt) & (np.abs(jets["eta"]) < self.jet_eta)
        if self.jet_tight_id:
            keep &= jets["tight_id"]
        return keep

    def btag_threshold(self, discriminant: str = "csv") -> float:
        """The working point for ``discriminant`` (``"csv"``, ``"csvv2"`` or ``"deepflavb"``).

        Example::

            >>> Selection().btag_threshold("deepflavb")
            0.3093
        """
        if discriminant not in BTAG_WORKING_POINTS:
            raise UserError(f"unknown b-tag discriminant {discriminant!r}; expected one of {sorted(BTAG_WORKING_POINTS)}")
        return float(getattr(self, f"btag_{discriminant}"))

    def btagged(self, jets: Objects, discriminant: str = "csv") -> np.ndarray:
        """Flat mask of b-tagged jets (discriminant above its working point; NaN is never tagged)."""
        csv = jets["csv"]
        return np.nan_to_num(csv, nan=-np.inf) > self.btag_threshold(discriminant)

    def select(self, events: Events) -> SelectionResult:
        """Evaluate every cut, columnar; returns masks and the cut flow."""
        n = len(events)
        el = self.leptons(events.electron)
        mu = self.leptons(events.muon)
        jet = self.jets(events.jet)
        bjet = jet & self.btagged(events.jet, events.btag)
        n_lep = _count(el, events.electron, n) + _count(mu, events.muon, n)
        n_jet = _count(jet, events.jet, n)
        n_bjet = _count(bjet, events.jet, n)
        steps: list[tuple[str, np.ndarray]] = [("all events", np.ones(n, dtype=bool))]
        if self.n_leptons is not None:
            tight = " tight" if self.lepton_tight_id else ""
            iso = " isolated" if self.lepton_tight_iso else ""
            steps.append((f"exactly {self.n_leptons}{tight}{iso} lepton(s), pT > {self.lepton_pt:g} GeV",
                          n_lep == self.n_leptons))
        if self.min_leptons > 0:
            steps.append((f">= {self.min_leptons} selected lepton(s), pT > {self.lepton_pt:g} GeV",
                          n_lep >= self.min_leptons))
        if self.min_jets > 0:
            steps.append((f">= {self.min_jets} jet(s), pT > {self.jet_pt:g} GeV, |eta| < {self.jet_eta:g}",
                          n_jet >= self.min_jets))
        if self.min_bjets > 0:
            steps.append((f">= {self.min_bjets} b-tag(s), {events.btag} > {self.btag_threshold(events.btag):g}",
                          n_bjet >= self.min_bjets))
        passed = np.ones(n, dtype=bool)
        failed = np.full(n, -1, dtype=np.int64)  # index into steps of the first cut an event fails
        flow = []
        for k, (name, cut) in enumerate(steps):
            failed[passed & ~cut] = k
            passed = passed & cut
            flow.append((name, int(passed.sum())))
        names = np.array(["", *(name for name, _ in steps)], dtype=object)
        return SelectionResult(passed, el, mu, jet, CutFlow(flow, events.source), names[failed + 1])

    def apply(self, events: Events, result: SelectionResult | None = None) -> tuple[Events, CutFlow]:
        """The passing events (with only selected objects, unless configured otherwise).

        ``result``: this selection's :meth:`select` of ``events``, when already computed.
        """
        result = self.select(events) if result is None else result
        if self.drop_unselected_objects:
            events = _replace_objects(events, result)
        return events[result.passed], result.cutflow


def _count(mask: np.ndarray, objs: Objects, n: int) -> np.ndarray:
    return np.bincount(objs.event_index[mask], minlength=n)


def _replace_objects(events: Events, result: SelectionResult) -> Events:
    from dataclasses import replace

    return replace(
        events,
        jet=events.jet.mask(result.jets),
        electron=events.electron.mask(result.electrons),
        muon=events.muon.mask(result.muons),
    )


@dataclass(frozen=True)
class SelectionResult:
    """Per-event pass mask, flat per-object masks and the cut flow."""

    passed: np.ndarray
    electrons: np.ndarray
    muons: np.ndarray
    jets: np.ndarray
    cutflow: CutFlow
    #: per event, the name of the first cut it fails ("" for passing events)
    failed_cut: np.ndarray | None = None


@dataclass(frozen=True)
class CutFlow:
    """Events remaining after each cut; ``str()`` gives the table."""

    steps: list[tuple[str, int]]
    source: str = ""

    def table(self, label: str = "") -> str:
        """A plain-text cut-flow table with relative and cumulative efficiencies."""
        total = self.steps[0][1] if self.steps else 0
        width = max([len(name) for name, _ in self.steps] + [3])
        title = label or Path(self.source).name or "cut flow"
        lines = [f"cut flow: {title}", f"{'cut':<{width}}  {'events':>8}  {'rel.':>7}  {'cum.':>7}"]
        prev = total
        for name, count in self.steps:
            rel = count / prev if prev else 0.0
            cum = count / total if total else 0.0
            lines.append(f"{name:<{width}}  {count:>8d}  {rel:>7.1%}  {cum:>7.1%}")
            prev = count
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> list[dict[str, Any]]:
        return [{"cut": name, "events": count} for name, count in self.steps]


PRESETS: dict[str, Selection | None] = {
    "paper": Selection(),
    "paper+jet": Selection(min_jets=1),
    # >= 1 tight isolated lepton: keeps dilepton classes (Drell-Yan, ZZ) for multi-class work
    "lepton": Selection(n_leptons=None, min_leptons=1),
    "none": None,
}


def get_selection(spec: str | os.PathLike[str] | Selection | None) -> Selection | None:
    """A selection from a preset name (``paper``, ``paper+jet``, ``lepton``, ``none``), a JSON file or a dict.

    ``None``, ``"none"`` and a JSON file holding ``null`` mean: keep every event and every object.
    The ``selection.json`` that :func:`eventcnn.images.render.render_to_dir` writes is such a file.
    """
    if spec is None or isinstance(spec, Selection):
        return spec
    if isinstance(spec, dict):
        return Selection.from_dict(spec)
    text = str(spec)
    if text in PRESETS:
        return PRESETS[text]
    path = Path(text)
    if path.suffix == ".json" and path.exists():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        except UnicodeDecodeError:
            raise UserError(f"{path}: not a text file: give a JSON file of Selection settings") from None
        if data is not None and not isinstance(data, dict):
            raise UserError(f"{path}: expected a JSON object of Selection settings (or null for none), "
                            f"got {type(data).__name__}")
        try:
            return None if data is None else Selection.from_dict(data)
        except UserError as exc:
            raise UserError(f"{path}: {exc}") from None
    raise UserError(
        f"unknown selection {text!r}: use one of {sorted(PRESETS)} or a JSON file of settings"
    )
