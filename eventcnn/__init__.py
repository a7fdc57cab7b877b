"""eventcnn: classify particle-collision events as images with CNNs.

The pipeline, one module per stage:

- :mod:`eventcnn.events`: read CMS open-data JSON events into columnar arrays.
- :mod:`eventcnn.events.selection`: the lepton + jets selection and its cut flow.
- :mod:`eventcnn.images.render`: draw events as eta-phi images (arXiv:1708.07034).
- :mod:`eventcnn.events.sources`: fetch the public data sets (checksums, mirrors).
- :mod:`eventcnn.events.generate`: generate events with Pythia 8 + fastjet.
- :mod:`eventcnn.images.augment`: on-disk and online augmentation.
- :mod:`eventcnn.learn.dataset`: image datasets, splits and input pipelines.
- :mod:`eventcnn.learn.models`: transfer-learning backbones and heads.
- :mod:`eventcnn.learn.train` / :mod:`eventcnn.learn.evaluate`: runs and metrics.
- :mod:`eventcnn.opal`: the OPAL masterclass (a dataset, a network and a recipe of the same stack).

Heavy dependencies (Keras, TensorFlow, Pythia) are imported only by the
modules that need them, so ``import eventcnn`` is cheap.
"""

# the home of DEFAULT_SEED is eventcnn.seeds; re-exported for `from eventcnn import DEFAULT_SEED`
from eventcnn.seeds import DEFAULT_SEED

__all__ = ["DEFAULT_SEED", "__version__"]

__version__ = "0.1.0"
