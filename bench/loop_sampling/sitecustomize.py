"""Where an ``onthedot run``'s event loop spends its time: with ``ONTHEDOT_PROFILE=folder`` set,
``bench.bench_load`` puts this folder first on the instances' ``PYTHONPATH``, and each instance
samples its main thread's stack every 5 ms (a thread of its own; no profiler hooks, so the loop
runs at its own pace) into ``folder/samples-<pid>.marshal``: a list of (time, stack) pairs,
written every 2 s and at exit. ``python -m bench.loop_profile folder FROM TO`` sums them up.

Only the bench uses it; the product has no profiling switch.
"""

from __future__ import annotations

import atexit
import marshal
import os
import sys
import threading
import time

EVERY_S = 0.005
WRITE_EVERY_S = 2.0


def _stack(frame: object) -> tuple[str, ...]:
    names: list[str] = []
    while frame is not None:
        code = frame.f_code  # type: ignore[attr-defined]
        names.append(f"{code.co_filename}:{code.co_name}:{frame.f_lineno}")  # type: ignore[attr-defined]
        frame = frame.f_back  # type: ignore[attr-defined]
    return tuple(reversed(names))


def sample(folder: str) -> None:
    """Sample the main thread's stack until the process ends."""
    main = threading.main_thread().ident
    samples: list[tuple[float, tuple[str, ...]]] = []
    path = os.path.join(folder, f"samples-{os.getpid()}.marshal")

    def write() -> None:
        with open(path + ".part", "wb") as out:
            marshal.dump(list(samples), out)
        os.replace(path + ".part", path)

    def run() -> None:
        written = time.monotonic()
        while True:
            time.sleep(EVERY_S)
            frame = sys._current_frames().get(main or 0)
            samples.append((time.time(), _stack(frame)))
            if time.monotonic() - written > WRITE_EVERY_S:
                written = time.monotonic()
                write()

    threading.Thread(target=run, name="loop-sampling", daemon=True).start()
    atexit.register(write)


_FOLDER = os.environ.get("ONTHEDOT_PROFILE")
if _FOLDER and "onthedot.cli" in sys.orig_argv and "run" in sys.orig_argv:
    sample(_FOLDER)
