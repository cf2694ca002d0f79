"""Fuzz the patch parser: N generated and mutated texts must each give a Patch or a PatchError.

    PYTHONPATH=. python benchmarks/fuzz_parser.py [N] [SEED]

Prints how many texts parsed (ok), how many were rejected with a PatchError placed inside
the text (error), how many did anything else (other: must be 0), and the time taken.
The generators are those of tests/patch/test_fuzz.py.
"""
from __future__ import annotations

import collections
import random
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.patch.test_fuzz import check, make_text  # noqa: E402


def main(n: int = 20000, seed: int = 0) -> int:
    rnd = random.Random(seed)
    counts = collections.Counter()
    failures = []
    t0 = time.perf_counter()
    for _ in range(n):
        text = make_text(rnd)
        try:
            counts[check(text)] += 1
        except Exception as e:  # PatchError is counted by check(); anything else is a bug
            counts["other"] += 1
            if len(failures) < 5:
                failures.append((text, "".join(traceback.format_exception(e))))
    dt = time.perf_counter() - t0
    print(f"fuzz_parser: {n} texts (seed {seed}) in {dt:.2f} s ({n / dt:,.0f} texts/s)")
    print(f"  ok (Patch):          {counts['ok']}")
    print(f"  error (PatchError):  {counts['error']}")
    print(f"  other:               {counts['other']}")
    for text, tb in failures:
        print("-" * 60, f"\n{text!r}\n{tb}")
    return 1 if counts["other"] else 0


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    raise SystemExit(main(*args))
