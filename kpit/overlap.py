"""Deprecated: moved to :mod:`kpit.exclusion` in kpit 0.2.0 (removed in 0.3.0)."""

from kpit._moved import moved

__getattr__, __dir__, __all__ = moved(__name__)
