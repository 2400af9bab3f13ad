"""Python functions: the first ecosystem."""
