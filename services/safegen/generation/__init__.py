"""Image generation domain: backends behind one contract, plus the bundled offline model."""
