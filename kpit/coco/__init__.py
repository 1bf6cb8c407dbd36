"""Loading COCO-style annotations into image contexts.

:func:`load_coco` reads captions, instances and person keypoints (COCO-17, COCO-WholeBody
and any file whose ``categories`` name its points) into :class:`~kpit.types.ImageContext`
objects: a typed fast path for well-formed files, and a record-by-record path that names the
file, record and field of anything amiss.
"""

from kpit.coco.loader import (
    CocoContexts,
    CocoFiles,
    LoadStats,
    coco_files,
    load_coco,
)

__all__ = [
    "CocoContexts",
    "CocoFiles",
    "LoadStats",
    "coco_files",
    "load_coco",
]
