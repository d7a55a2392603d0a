"""start_within, request validation, the flex race."""
