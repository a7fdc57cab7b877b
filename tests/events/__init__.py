"""Tests of eventcnn.events (one file per module)."""
