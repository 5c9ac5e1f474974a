"""Committed data for text moderation: the managed profanity list and the Latin-lookalike homoglyph map."""
