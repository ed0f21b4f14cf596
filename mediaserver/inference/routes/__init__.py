"""One module per endpoint of the inference service."""
