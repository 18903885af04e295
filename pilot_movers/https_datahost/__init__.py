"""DataHost client."""
