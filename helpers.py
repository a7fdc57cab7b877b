"""Shared utilities of the numbered notebooks (thin: the logic lives in ``eventcnn``).

Each notebook does ``import helpers`` (the install cell puts the repository root
on ``sys.path``). Sections follow the pipeline stages.
"""

from __future__ import annotations

# --- 01 events and images ---

# --- 02 augmentation ---

# --- 03 transfer learning ---

# --- 04 OPAL masterclass ---
