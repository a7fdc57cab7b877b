"""Tests of eventcnn.opal (one file per module)."""
