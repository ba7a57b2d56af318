"""Files other processes read while we write them: atomic replacement and one lock per model.

A reader (a monitor run on another worker) never sees a half-written suite, baseline or index: the
text goes to a temporary file in the same folder, is flushed to disk and renamed over the old one
(`os.replace` is atomic on POSIX). Derivation and validation of one model also take the model's lock
(an `fcntl` lock on a file beside the suites), so a validation reads the suite and the schema suite of
one derivation, and two writers of the model's Data Docs index do not lose each other's rows.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step (temporary file, fsync, rename, fsync of the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


@contextmanager
def model_lock(suites_dir: Path, model: str, *, shared: bool = False) -> Iterator[None]:
    """Hold the model's lock: exclusive to write its suites, baseline or Data Docs index, shared to
    read its suites. Works across processes on one machine (and on NFS v4 with lock support)."""
    suites_dir.mkdir(parents=True, exist_ok=True)
    with open(suites_dir / f".{model}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
