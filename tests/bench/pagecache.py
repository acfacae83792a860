"""Pre-touch the page cache before a big write, so both servers write into warm memory.

On a VM whose RAM the host backs lazily (this Firecracker machine), the first write into
never-touched guest memory costs a host page fault per page: measured here, writing into
fresh page cache runs at ~450 MB/s, into recently freed pages at ~6 GB/s. A big PUT is
then fast or slow depending on whether the pages it gets were used before, i.e. on the
order of the runs. Writing and deleting a scratch file of the same size just before the
measured PUT leaves freed, already-backed pages that the kernel hands out next.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from procmem import MIB


def pretouch(folder: Path, mib: int) -> float:
    """Write `mib` MiB to a scratch file in `folder`, delete it; the seconds it took."""
    block = os.urandom(MIB)
    path = folder / "pretouch.tmp"
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(mib):
            os.write(fd, block)
    finally:
        os.close(fd)
        path.unlink()
    return time.perf_counter() - started
