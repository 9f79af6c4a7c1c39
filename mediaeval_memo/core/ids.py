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


class UniqueIds:
    """Checks ids one at a time as a file is read: safe as a file name, and not seen before in it."""

    def __init__(self) -> None:
        self.first: dict[str, str] = {}

    def problem(self, value: object, where: str) -> str | None:
        """Why `value` cannot be accepted, or None after remembering it as first seen `where` ("on line 3")."""
        why = video_id_problem(value)
        if why is None and str(value) in self.first:
            why = f"duplicate video id (first {self.first[str(value)]})"
        if why is None:
            self.first[str(value)] = where
        return why
