"""The installed version of kpit."""

__version__ = "0.2.0"
"""kpit's version (``kpit --version``; recorded in run manifests)."""
