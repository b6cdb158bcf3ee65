"""The machine line every benchmark prints: cores, CPU model, numba threads, Python, load.
These machines have 2 cores and are shared, so the load average is printed beside the figures."""

from __future__ import annotations

import contextlib
import os
import platform


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or what the platform module knows)."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def describe_machine() -> str:
    """One line: cores, CPU, numba threads, Python, load average."""
    import numba

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores, {cpu_model()}; numba {numba.__version__} with {numba.get_num_threads()} threads; "
        f"Python {platform.python_version()}; load average {load} (others share this machine)"
    )
