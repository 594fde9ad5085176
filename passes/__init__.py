"""Passes: IR to IR transformations (filled in by the AD and optimization work)."""
