"""Bundled shapes model tooling: its training data renderer, trainer and prompt-following evaluation."""
