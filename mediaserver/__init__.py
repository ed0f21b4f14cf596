"""mediaserver: a self-hosted voice-agent server."""

__version__ = "0.1.0"
