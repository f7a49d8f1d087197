"""glibc malloc settings for a process that holds librados: :func:`tune`, once.

Measured on a server streaming images through the RBD store (smaps of the server
process): resident memory rose by 1-3 MiB with every upload and download, well past
the data in flight, and stayed up; 64 MiB more after a few images. librados and
librbd allocate MiB-sized buffers (received object data, request copies) in their
own threads (messenger workers, finisher, op thread), and the worker threads that
call them allocate the Python side of each read. glibc gives every thread an arena
of its own, and once the first large buffer is freed it raises its mmap threshold
to that size, so later buffers come from those arenas, which keep them when they
are freed: a dozen arenas holding a few MiB each. No Ceph option bounds that
(``ms_async_op_threads``, ``objecter_inflight_op_bytes`` and ``rbd_cache`` changed
nothing measurable; the bytes in flight are already a few MiB).

One arena, a fixed mmap threshold (which turns the adjustment off) and a trim
threshold of 8 MiB keep the process at what it holds: measured on 256 MiB images,
peaks of 136-147 MiB instead of 160-185, at the same throughput. (A trim threshold
of 1 MiB held a little less but cost 1.3 CPU-s per GiB uploaded: the heap shrank
and grew again, page by page, for every MiB.) The settings are
process-wide and harmless to the rest of the server, whose large buffers are as
short-lived. A libc without ``mallopt`` (musl) is left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading

MIB = 1024 * 1024
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
SETTINGS = {
    M_ARENA_MAX: 1,
    M_MMAP_THRESHOLD: 32 * MIB,
    M_TRIM_THRESHOLD: 8 * MIB,
}
"""mallopt parameter -> value. The arena limit counts only for arenas made after it,
so :func:`tune` runs when the bindings load, before librados starts a thread. Buffers
below 32 MiB come from the heap, as glibc's adjustment would have them (no page faults
for every MiB), and the heap is trimmed once 8 MiB at its top are free."""

log = logging.getLogger(__name__)
_lock = threading.Lock()
_tuned = False


def tune() -> None:
    """Apply ``SETTINGS`` once per process."""
    global _tuned
    with _lock:
        if _tuned:
            return
        _tuned = True
        try:
            mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
        except (OSError, AttributeError):
            return
        for param, value in SETTINGS.items():
            if mallopt(param, value) != 1:
                log.debug("mallopt(%d, %d) refused", param, value)
