"""Offline engine: run the real program under recording Pulumi mocks, then plan/diff/render."""
