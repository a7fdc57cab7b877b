"""Tests of eventcnn.opal.web (the masterclass in the browser)."""
