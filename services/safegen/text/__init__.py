"""Text moderation: normalization, banned-word matching, category backends and the TextModerationService."""
