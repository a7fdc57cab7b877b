"""OPAL physics: Z branching fractions and the overview of predicted classes against them. No Keras.

Example::

    from eventcnn.opal import expected_fractions, overview_table, predicted_overview
    print(overview_table(predicted_overview(pred, data.labels)))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from eventcnn.opal.displays import CLASS_NAMES

__all__ = [
    "expected_fractions",
    "overview_table",
    "predicted_overview",
    "Z_BRANCHING_PERCENT",
]


#: Z branching fractions in percent (PDG 2020, Z boson listing), the values the
#: masterclass uses. "invisible" is Z -> neutrinos, which leaves no display.
Z_BRANCHING_PERCENT: dict[str, float] = {
    "q": 69.911,
    "e": 3.3632,
    "m": 3.3662,
    "t": 3.3696,
    "invisible": 20.000,
}


def expected_fractions(branching: dict[str, float] | None = None) -> dict[str, float]:
    """Expected share of each class among *visible* Z decays (neutrinos excluded).

    ``BR(X) / (BR(q) + BR(e) + BR(m) + BR(t))`` with the PDG values of
    :data:`Z_BRANCHING_PERCENT`.

    Example::

        >>> {k: round(v, 3) for k, v in expected_fractions().items()}
        {'q': 0.874, 'e': 0.042, 'm': 0.042, 't': 0.042}
    """
    br = dict(Z_BRANCHING_PERCENT if branching is None else branching)
    visible = sum(br[c] for c in CLASS_NAMES)
    return {c: br[c] / visible for c in CLASS_NAMES}


def predicted_overview(predicted: Sequence[str] | np.ndarray,
                       reference: Sequence[str] | np.ndarray | None = None) -> list[dict[str, Any]]:
    """Counts and shares per class of predicted (and reference) labels vs the Z expectation.

    Example::

        for row in predicted_overview(pred_labels, data.labels):
            print(row)   # {'class': 'q', 'predicted': 431, 'predicted_share': 0.87, ...}
    """
    predicted = np.asarray(predicted)
    expect = expected_fractions()
    rows = []
    for c in CLASS_NAMES:
        n = int(np.sum(predicted == c))
        row: dict[str, Any] = {"class": c, "predicted": n,
                               "predicted_share": n / max(len(predicted), 1)}
        if reference is not None:
            ref = np.asarray(reference)
            ref = ref[ref != ""]
            m = int(np.sum(ref == c))
            row.update(reference=m, reference_share=m / max(len(ref), 1))
        row["expected_share"] = expect[c]
        rows.append(row)
    return rows


def overview_table(rows: list[dict[str, Any]]) -> str:
    """:func:`predicted_overview` rows as a small Markdown table.

    Example::

        print(overview_table(predicted_overview(pred, data.labels)))
    """
    has_ref = "reference" in rows[0]
    head = "| class | predicted | share |" + (" reference | share |" if has_ref else "") + " expected (Z) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        line = f"| {r['class']} | {r['predicted']} | {r['predicted_share']:.3f} |"
        if has_ref:
            line += f" {r['reference']} | {r['reference_share']:.3f} |"
        lines.append(line + f" {r['expected_share']:.3f} |")
    return "\n".join(lines)
