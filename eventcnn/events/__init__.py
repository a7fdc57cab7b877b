"""Events: reading (a registry of formats: CMS JSON, NanoAOD), selection, generation, detectors, data sources.

The first stage of the pipeline. Nothing here imports Keras or a deep-learning
backend (an import-linter contract in ``pyproject.toml`` checks it).

- :mod:`eventcnn.events.cms_json`: the columnar :class:`Events` type and the CMS JSON schema;
- :mod:`eventcnn.events.formats`: the registry of event formats (one module + one line per format);
- :mod:`eventcnn.events.read`: :func:`read_events` and :func:`read_selected` for every format;
- :mod:`eventcnn.events.nanoaod` (+ ``nanoaod_layout``, ``nanoaod_write``): NanoAOD, TTree and RNTuple,
  flat or collection fields; :mod:`eventcnn.events.convert`: ``data convert``;
- :mod:`eventcnn.events.selection`: the lepton + jets selection and its cut flow;
- :mod:`eventcnn.events.generate` / :mod:`eventcnn.events.detector`: Pythia 8 + fastjet events (CMS-like);
- :mod:`eventcnn.events.zpole` / :mod:`eventcnn.events.opal_detector`: Z decays at LEP, the OPAL-like detector;
- :mod:`eventcnn.events.sources`: the one registry of public data files and ``fetch``;
  :mod:`eventcnn.events.opendata` (CERN portal records, file indexes) and
  :mod:`eventcnn.events.download` (pooch downloads, mirrors, origin records) serve it.

Example::

    >>> from eventcnn.events import read_events
    >>> ev = read_events("json_files/TTjets_json.json")        # doctest: +SKIP
"""

from __future__ import annotations

from eventcnn.events import cms_json
from eventcnn.events.cms_json import *  # noqa: F403 - the Events type and the JSON schema
from eventcnn.events.cms_json import COLLECTIONS
from eventcnn.events.read import read_events, read_selected

__all__ = ["COLLECTIONS", *cms_json.__all__, "read_events", "read_selected"]
