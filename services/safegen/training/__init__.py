"""Offline tooling (training, evaluation, data building, synthetic fixtures): never imported by `safegen serve`."""
