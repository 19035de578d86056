"""What every package shares: the one error type."""
