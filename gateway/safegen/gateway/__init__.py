"""The safegen gateway: prompt moderation, generation with safety negative prompts, image moderation."""
