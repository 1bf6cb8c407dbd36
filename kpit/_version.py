"""The installed version of kpit."""

__version__ = "0.1.0"
