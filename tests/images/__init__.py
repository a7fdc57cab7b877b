"""Tests of eventcnn.images (one file per module)."""
