"""Learning: the only subpackage that imports Keras or a backend, one of everything for CMS and OPAL runs.

The one model registry (:mod:`~eventcnn.learn.registry`: the backbones and the
OPAL masterclass CNN; built by :mod:`~eventcnn.learn.models`) and its shipped
weights (:mod:`~eventcnn.learn.weights`); datasets (:mod:`~eventcnn.learn.dataset`,
:mod:`~eventcnn.learn.cache`, :mod:`~eventcnn.learn.splits`, batches of images in
memory :mod:`~eventcnn.learn.batches`), recipes (:mod:`~eventcnn.learn.recipes`),
online augmentation layers (:mod:`~eventcnn.learn.augment`), devices and
precision (:mod:`~eventcnn.learn.devices`), the one training loop
(:mod:`~eventcnn.learn.loop`), run folders of both kinds (:mod:`~eventcnn.learn.runs`),
training (:mod:`~eventcnn.learn.train` from an image folder,
:mod:`~eventcnn.learn.train_arrays` from displays in memory,
:mod:`~eventcnn.learn.pretrain` on simulation), prediction
(:mod:`~eventcnn.learn.predict`), evaluation (:mod:`~eventcnn.learn.evaluate`,
:mod:`~eventcnn.learn.metrics`, :mod:`~eventcnn.learn.baseline`) and explanation
(:mod:`~eventcnn.learn.explain`). ``learn`` never imports :mod:`eventcnn.opal`,
the masterclass built on it.

Import the modules you need (``from eventcnn.learn import train``): this package
file imports nothing, so a light module never pays for Keras by accident.
"""

__all__: list[str] = []
