"""``eventcnn class``: the OPAL masterclass in the browser, served from the teacher's laptop.

Students label displays on tablets or phones, blind (opaque ids, no names, no
classes); the teacher watches progress and agreement live and trains the CNN
on the class's labels in the background. Modules:

- :mod:`eventcnn.opal.web.store`: SQLite (WAL), one vote per student and display (no FastAPI);
- :mod:`eventcnn.opal.web.assign`: which displays each student gets (no FastAPI);
- :mod:`eventcnn.opal.web.training`: the background training and its pictures (Keras in the thread);
- :mod:`eventcnn.opal.web.session`: displays, store and training of one class;
- :mod:`eventcnn.opal.web.export`: the label file and the votes as CSV;
- :mod:`eventcnn.opal.web.app`: the FastAPI app (needs ``pip install "eventcnn[class]"``);
- ``static/``: the pages, CSS and JavaScript (package data, no CDN).

Importing this package imports none of them (FastAPI stays optional).

Example::

    from eventcnn.opal.web.session import open_session
    from eventcnn.opal.web.app import create_app
    app = create_app(open_session("displays.zip", "class.sqlite"), "http://127.0.0.1:8000/")
"""

from __future__ import annotations

__all__: list[str] = []
