"""Video ids: they become file names (frames/<id>/, feature rows, run files), so only a safe alphabet is accepted."""

from __future__ import annotations

import re

VIDEO_ID_PATTERN = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,200}$")
VIDEO_ID_RULE = "letters, digits, '.', '_' and '-' only, 1-200 characters, not '.' or '..'"


def video_id_problem(value: object) -> str | None:
    """Why `value` is not a usable video id, or None when it is."""
    if not isinstance(value, str) or not value:
        return f"empty video id ({VIDEO_ID_RULE})"
    if not VIDEO_ID_PATTERN.match(value):
        return f"not safe as a file name ({VIDEO_ID_RULE})"
    return None
