"""`scripts/bench`: run the benchmarks, print figures and ratios, write bench/RESULTS.md."""

from __future__ import annotations

import argparse
import sys

from . import footprint, issuance
from .report import Result, print_results, write_markdown


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite bench/RESULTS.md")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    results: list[Result] = []
    sections = [
        lambda: issuance.run(
            easyrsa_count=max(3, int(30 * scale)),
            core_count=max(50, int(2000 * scale)),
            bulk_count=max(100, int(1000 * scale)),
        ),
        footprint.run,
    ]
    for section in sections:
        rows = section()
        print_results(rows)
        results += rows
    if not args.no_write:
        write_markdown(results, "scripts/bench" + (" --quick" if args.quick else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
