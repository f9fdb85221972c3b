"""Process-wide interpreter state of a serving process, set once its startup is done. The
gateway's lifespan applies it; bench_gateway.py applies it to its in-process side too."""

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def settled_for_serving(gil_switch_interval_ms: float) -> Iterator[None]:
    """Call once startup is done.

    What startup built (modules, the model, caches) lives as long as the process. Frozen out
    of the collector's sight, it is not traversed again by every full collection that the many
    small objects of a study's DICOM headers trigger.

    Ingestion threads parse DICOM headers in Python, holding the GIL; the event loop gets it
    back only when they are told to let go. At Python's 5 ms, every step of a /healthz or
    /metrics request under load waits that long. The previous interval is restored on exit.
    """
    gc.collect()
    gc.freeze()
    switch_interval_s = sys.getswitchinterval()
    sys.setswitchinterval(gil_switch_interval_ms / 1000)
    try:
        yield
    finally:
        sys.setswitchinterval(switch_interval_s)
