"""Summarise a py-spy raw (collapsed-stack) file: samples per thread, top functions.

    .venv/bin/python bench/pyspy_top.py /tmp/harvest-bench-*/harvester-1000000-0.pyspy.txt [N]

`bench/harvest.py --profile py-spy` writes such a file (100 samples/s, idle threads
excluded; with `--profile py-spy-gil`, only the thread holding the GIL). Prints each
thread's share of samples, then the N functions (file:line) found most often anywhere
on a stack (inclusive) and at the top of a stack (self). At 100 Hz one sample is 10 ms,
so over R rows a function's cost is samples * 10 ms / R per row.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

_PATH = re.compile(r" \((?:/[^()]*?(?:site-packages/|lib/python3\.\d+/|/work/main/))")


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    top = int(argv[1]) if len(argv) > 1 else 40
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    with open(argv[0]) as fh:
        for line in fh:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(count)
            total += n
            thread, *frames = stack.split(";")
            threads[thread] += n
            frames = [_PATH.sub(" (", f) for f in frames]
            for frame in set(frames):
                inclusive[frame] += n
            if frames:
                self_[frames[-1]] += n
    print(f"{total} samples ({total / 100:.1f} thread-seconds at 100 Hz)")
    for name, n in threads.most_common():
        print(f"{n:7d} {100 * n / total:5.1f}%  {name}")
    for title, counter in (("inclusive", inclusive), ("self", self_)):
        print(f"\n--- {title}")
        for name, n in counter.most_common(top):
            print(f"{n:7d} {100 * n / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
