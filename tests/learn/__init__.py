"""Tests of eventcnn.learn (one file per module)."""
