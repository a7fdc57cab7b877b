"""Learning: the only subpackage that imports Keras or a backend.

Datasets (:mod:`~eventcnn.learn.dataset`, :mod:`~eventcnn.learn.cache`,
:mod:`~eventcnn.learn.splits`), online augmentation layers
(:mod:`~eventcnn.learn.augment`), backbones (:mod:`~eventcnn.learn.models`),
devices and precision (:mod:`~eventcnn.learn.devices`), the one training loop
(:mod:`~eventcnn.learn.loop`), run folders (:mod:`~eventcnn.learn.runs`),
training (:mod:`~eventcnn.learn.train`, :mod:`~eventcnn.learn.pretrain`,
shipped :mod:`~eventcnn.learn.weights`), evaluation
(:mod:`~eventcnn.learn.evaluate`, :mod:`~eventcnn.learn.metrics`,
:mod:`~eventcnn.learn.baseline`) and explanation (:mod:`~eventcnn.learn.explain`).

Import the modules you need (``from eventcnn.learn import train``): this package
file imports nothing, so a light module never pays for Keras by accident.
"""

__all__: list[str] = []
