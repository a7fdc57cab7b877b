"""What a render job did, per class (:class:`RenderSummary`, returned by
:func:`eventcnn.images.render.render_to_dir`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from eventcnn.events import BadEvent
from eventcnn.images.folder import SKIPPED

__all__ = ["RenderSummary"]


@dataclass
class RenderSummary:
    """What :func:`render_to_dir` did, per class.

    ``skipped`` counts images already present (kept), ``redrawn`` present but
    broken images drawn again, ``dropped`` lists ``(source, BadEvent)`` of the
    events that ``skip_bad`` dropped (also in ``skipped.csv``), ``kept`` the images
    of a shard folder's index that this run did not draw and kept (per class).
    """

    out: Path
    written: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    selected: dict[str, int] = field(default_factory=dict)
    read: dict[str, int] = field(default_factory=dict)
    bad: dict[str, int] = field(default_factory=dict)
    redrawn: dict[str, int] = field(default_factory=dict)
    cutflows: list[str] = field(default_factory=list)
    dropped: list[tuple[str, BadEvent]] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)

    def table(self) -> str:
        """Plain-text table: events read, selected, images written and already present."""
        rows = [("class", "read", "bad", "selected", "written", "present")]
        for label in sorted(self.read):
            rows.append((label, *(str(d.get(label, 0)) for d in
                         (self.read, self.bad, self.selected, self.written, self.skipped))))
        widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
        lines = ["  ".join(c.rjust(w) if k else c.ljust(w) for k, (c, w) in enumerate(zip(r, widths)))
                 for r in rows]
        redrawn = sum(self.redrawn.values())
        if redrawn:
            per = ", ".join(f"{k} {v}" for k, v in sorted(self.redrawn.items()) if v)
            lines.append(f"redrew {redrawn} broken image(s) found on disk ({per})")
        if self.kept:
            per = ", ".join(f"{k} {v}" for k, v in sorted(self.kept.items()))
            lines.append(f"kept {sum(self.kept.values())} image(s) already in the shard index ({per})")
        return "\n".join(lines) + f"\nimages in {self.out}"

    def dropped_report(self, first: int = 5) -> str:
        """The dropped bad events: the first ``first`` by source, event and field, then a count."""
        if not self.dropped:
            return ""
        lines = [f"dropped {len(self.dropped)} bad event(s) (--skip-bad); all listed in "
                 f"{self.out / SKIPPED}:"]
        lines += [f"  {src}: {bad}" for src, bad in self.dropped[:first]]
        if len(self.dropped) > first:
            lines.append(f"  ... and {len(self.dropped) - first} more")
        return "\n".join(lines)
