"""Images: drawing events, the image-folder format, on-disk augmentation, pictures.

The second stage of the pipeline. Nothing here imports Keras or a deep-learning
backend (checked by the import-linter contract in ``pyproject.toml``).

- :mod:`eventcnn.images.render`: draw selected events as eta-phi images (arXiv:1708.07034);
- :mod:`eventcnn.images.folder`: the image-folder format (classes, ``manifest.csv``, decoding);
- :mod:`eventcnn.images.augment`: the on-disk Augmentor pipeline of the original work;
- :mod:`eventcnn.images.display`: galleries and kinematic distributions of events;
- :mod:`eventcnn.images.opal_displays`: the OPAL masterclass's display files and label files;
- :mod:`eventcnn.images.display_ids`: the opaque ids that students read instead of display names.
"""

__all__: list[str] = []
