"""Sum up the stack samples of ``bench/loop_sampling`` (``ONTHEDOT_PROFILE=folder`` with
``python -m bench.bench_load``): per instance, how busy its event loop was between two instants
(seconds since the epoch) and which of onthedot's functions were on the stack while it was busy.

Run as ``python -m bench.loop_profile FOLDER FROM TO``. A sample whose innermost frames wait in
the selector is the loop idle; the sampler takes its turn when the loop lets go of the GIL, so
the share of each function is a guide, not a measurement to the percent.
"""

from __future__ import annotations

import marshal
import sys
from collections import Counter
from pathlib import Path

Sample = tuple[float, tuple[str, ...]]
SHOWN = 40


def idle(stack: tuple[str, ...]) -> bool:
    return any("selectors.py:select" in frame for frame in stack[-2:])


def functions(busy: list[Sample]) -> Counter[str]:
    """How many busy samples had each of onthedot's functions on the stack."""
    found: Counter[str] = Counter()
    for _at, stack in busy:
        names = {frame.rsplit(":", 1)[0] for frame in stack if "/onthedot/" in frame}
        found.update(name.split("/onthedot/")[-1] for name in names)
    return found


def summary(path: Path, since: float, until: float) -> list[str]:
    samples: list[Sample] = [s for s in marshal.loads(path.read_bytes()) if since <= s[0] < until]
    busy = [s for s in samples if not idle(s[1])]
    if not samples:
        return [f"{path.name}: no samples in the window"]
    lines = [
        f"{path.name}: {len(samples)} samples, the loop busy in {len(busy) / len(samples):.0%}"
    ]
    lines += [
        f"{count / len(busy):6.1%} {name}" for name, count in functions(busy).most_common(SHOWN)
    ]
    return lines


def main() -> None:
    folder, since, until = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    for path in sorted(folder.glob("samples-*.marshal")):
        print("\n".join(summary(path, since, until)))


if __name__ == "__main__":
    main()
