"""The `dmmlive` command: play, render, check, types, send."""
from __future__ import annotations

import argparse
import sys

from .core.errors import DmmError


def cmd_types(a) -> int:
    from .core.registry import TYPES, first_line
    import dmmlive  # noqa: F401  (fills the table)
    for name in sorted(TYPES):
        t = TYPES[name]
        if name.startswith(("test_", "bench_")):
            continue
        print(t.summary())
        if t.doc:
            print(f"    {first_line(t.doc)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dmmlive", description="Live coding of sound and image with "
                                "dataflow matrix machines.")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("types", help="every neuron type with its ports and one line of doc")
    t.set_defaults(fn=cmd_types)
    return p


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    try:
        return a.fn(a)
    except DmmError as e:
        print(f"dmmlive: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
