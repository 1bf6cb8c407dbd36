"""tqdm's automatic bar, chosen quietly.

Libraries kpit drives (transformers, datasets, huggingface_hub) draw their progress bars with
``tqdm.auto``, which in a Jupyter kernel without ipywidgets falls back to the plain text bar
after a warning ("IProgress not found. Please update jupyter and ipywidgets."). kpit's own
bars are plain text everywhere. :func:`quiet_auto_tqdm`, run when kpit is imported, makes
that choice once without the warning: a plain bar where ipywidgets is absent, the widget
where it is installed, as before.
"""

from __future__ import annotations

import warnings

__all__ = ["quiet_auto_tqdm"]


def quiet_auto_tqdm() -> None:
    """Import ``tqdm.auto`` with its missing-ipywidgets warning silenced (only that one)."""
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)
        import tqdm.auto  # noqa: F401 - chosen once, then cached by Python
