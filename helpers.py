"""Shared utilities of the numbered notebooks (thin: the logic lives in ``eventcnn``).

Each notebook does ``import helpers`` (the install cell puts the repository root
on ``sys.path``). Sections follow the pipeline stages.
"""

from __future__ import annotations

# --- 01 events and images ---
from pathlib import Path  # noqa: E402

from eventcnn.display import plot_gallery, plot_kinematics  # noqa: E402,F401


def cms_inputs(prefer_examples: bool = False) -> dict[str, Path]:
    """Class label -> event file: the public CMS files (fetched once, cached), else the
    small example files shipped with eventcnn (generated with ``eventcnn generate``)."""
    from eventcnn.data import fetch

    if not prefer_examples:
        try:
            return dict(fetch("cms", progress=False))
        except (OSError, RuntimeError, ValueError) as exc:
            print(f"could not fetch the CMS files ({exc}); using the shipped examples")
    return example_inputs()


def example_inputs() -> dict[str, Path]:
    """The example event files inside the package: ``eventcnn/examples/example_<class>.json.gz``."""
    import eventcnn

    folder = Path(eventcnn.__file__).parent / "examples"
    files = sorted(folder.glob("example_*.json*"))
    return {f.name.split(".")[0].removeprefix("example_"): f for f in files}


def load_selected(inputs: dict[str, Path], selection="paper", limit=None, quiet=False):
    """Read and select every class; prints the cut flows. Returns ``{label: Events}``."""
    from eventcnn.events import read_events
    from eventcnn.selection import get_selection

    sel = get_selection(selection)
    out = {}
    for label, path in inputs.items():
        events = read_events(path)
        if sel is not None:
            events, flow = sel.apply(events)
            if not quiet:
                print(flow.table(f"{Path(path).name} -> {label}"), end="\n\n")
        out[label] = events[:limit] if limit else events
    return out

# --- 02 augmentation ---

# --- 03 transfer learning ---

# --- 04 OPAL masterclass ---
