"""``eventcnn class``: the OPAL masterclass in the browser, served from the teacher's laptop.

Students learn what the detector shows, practise, then label displays on
tablets or phones, blind (opaque ids, no names, no classes); a projector shows
the class's progress and result (``/board``); the teacher watches progress and
agreement and trains the CNN on the class's labels in the background, and the
class measures the Z decay fractions. Modules (none imports Keras or
``eventcnn.learn``: an import-linter contract):

- :mod:`eventcnn.opal.web.settings`: the lesson's options, checked at start;
- :mod:`eventcnn.opal.web.store`: SQLite (WAL, checkpointed), students, votes, undo, removal (no FastAPI);
- :mod:`eventcnn.opal.web.assign`: which displays each student gets, the cached choice of displays;
- :mod:`eventcnn.opal.web.session`: displays, store, lock, training and result of one class;
- :mod:`eventcnn.opal.web.supervisor`: "Train now": the training job (:mod:`eventcnn.opal.lesson_job`) in a child process;
- :mod:`eventcnn.opal.web.results`: the physics result (:func:`eventcnn.opal.fractions.measure_fractions`), results files;
- :mod:`eventcnn.opal.web.export`: label and vote files by opaque id, consistent snapshots;
- :mod:`eventcnn.opal.web.network`: the addresses tablets can reach, found without the internet;
- :mod:`eventcnn.opal.web.app`: the FastAPI app, routers by audience: :mod:`~eventcnn.opal.web.student`,
  :mod:`~eventcnn.opal.web.board`, :mod:`~eventcnn.opal.web.teacher`, :mod:`~eventcnn.opal.web.pages`;
  the teacher's token as a dependency (:mod:`~eventcnn.opal.web.auth`); needs ``pip install "eventcnn[class]"``;
- ``static/``: the pages, CSS, JavaScript and the message catalogues ``i18n/<lang>.json`` (package data, no CDN).

Importing this package imports none of them (FastAPI stays optional).

Example::

    from eventcnn.opal.web.session import open_session
    from eventcnn.opal.web.app import create_app
    app = create_app(open_session("displays.zip", "class.sqlite"), "http://127.0.0.1:8000/")
"""

from __future__ import annotations

__all__: list[str] = []
