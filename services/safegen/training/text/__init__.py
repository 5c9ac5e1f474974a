"""Text classifier tooling: data preparation, head training and calibration, and `safegen eval`."""
