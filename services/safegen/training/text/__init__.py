"""Text classifier tooling: data preparation, fine-tuning, export and calibration, and `safegen eval`."""
