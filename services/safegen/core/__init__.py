"""Shared runtime of every safegen service: domain types, settings, server factory, interceptor, metrics."""
