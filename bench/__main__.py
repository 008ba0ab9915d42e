"""`scripts/bench`: run the benchmarks, print figures and ratios, write bench/RESULTS.md."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from . import checks, footprint, fuzz, handshake, issuance, peers, startup
from .report import Result, print_results, write_markdown


def sections(quick: bool) -> dict[str, Callable[[], list[Result]]]:
    scale = 0.1 if quick else 1.0
    return {
        "issuance": lambda: issuance.run(
            easyrsa_count=max(3, int(30 * scale)),
            single_count=max(50, int(300 * scale)),
            batch_count=max(200, int(4000 * scale)),
            bulk_count=1000,
        ),
        "footprint": footprint.run,
        "handshake": handshake.run,
        "fuzz": lambda: fuzz.run(examples=1000 if quick else 10_000),
        "startup": lambda: startup.run(count=100 if quick else 500),
        "checks": lambda: checks.run(repeat=200 if quick else 2000),
        # Side by side with Home Assistant alone; the fleet and timeline rows come from it.
        # The firmware's restart timings; a quick run takes the simulator's fast ones.
        "peers": lambda: peers.run(counts=(20,) if quick else (50, 200, 500), fast=quick),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--only", help="comma-separated sections: " + ", ".join(sections(False)))
    parser.add_argument("--no-write", action="store_true", help="do not rewrite bench/RESULTS.md")
    args = parser.parse_args()
    chosen = sections(args.quick)
    if args.only:
        unknown = set(args.only.split(",")) - set(chosen)
        if unknown:
            parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
        chosen = {name: run for name, run in chosen.items() if name in args.only.split(",")}
    results: list[Result] = []
    for run in chosen.values():
        rows = run()
        print_results(rows)
        results += rows
    if not args.no_write:
        write_markdown(results, " ".join(["scripts/bench", *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
