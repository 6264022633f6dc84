"""Files handed to the browser (downloads) live in one scratch folder per process, pruned by age; files a
person uploads are checked before they are read."""
from __future__ import annotations

import contextlib
import tempfile
import time
import uuid
from pathlib import Path

from .errors import user_error

_SCRATCH: Path | None = None


def scratch_file(name: str, max_age_s: float = 3600.0) -> Path:
    """A path in this process's scratch folder for a download; files older than `max_age_s` are
    removed on the way, so a long-running Space does not fill its disk."""
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = Path(tempfile.mkdtemp(prefix="stepwise-ui-"))
    now = time.time()
    for old in _SCRATCH.iterdir():
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > max_age_s:
                old.unlink()
    return _SCRATCH / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}-{name}"


def uploaded(path: str | None, what: str, max_bytes: int) -> Path:
    """The uploaded file, or one readable error: none chosen, or larger than `max_bytes`."""
    if not path:
        raise user_error(f"Choose {what} first.")
    p = Path(path)
    if p.stat().st_size > max_bytes:
        raise user_error(f"The file is larger than {max_bytes // 1_000_000} MB.")
    return p
