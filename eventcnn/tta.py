"""Former home of :mod:`eventcnn.opal.tta` (test-time augmentation of OPAL end views); kept for existing imports."""

from eventcnn.opal.tta import TTA_COPIES, predict_tta

__all__ = ["TTA_COPIES", "predict_tta"]
