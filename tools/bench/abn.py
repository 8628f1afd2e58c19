#!/usr/bin/env python3
"""Several builds of bench_ae16 (before and after changes), run in turn (the order rotating every round), each round
only once the machine is quiet, with each build's median epoch time as a ratio to the first build's in that round.

    python3 tools/bench/abn.py /tmp/before,/tmp/after[,/tmp/other] --batch 32 --epochs 2 --rounds 3
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import run, wait_quiet  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("binaries", help="comma-separated paths; the first is the baseline")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--extra", default="--infer-reps 0", help="extra arguments for every build")
    args = p.parse_args()
    binaries = args.binaries.split(",")
    common = ["--epochs", str(args.epochs), "--batch", str(args.batch), "--threads", str(args.threads)]
    common += args.extra.split()
    medians = {b: [] for b in binaries}
    for r in range(args.rounds):
        wait_quiet(0.08, 3, 120)
        order = binaries[r % len(binaries):] + binaries[: r % len(binaries)]
        for binary in order:
            medians[binary].append(run([binary] + common)["median_epoch_s"])
        base = medians[binaries[0]][-1]
        cells = (f"{os.path.basename(b)} {medians[b][-1]:.3f} ({medians[b][-1] / base:.3f})" for b in binaries)
        print(f"round {r + 1}: " + "  ".join(cells), flush=True)
    for b in binaries:
        ratios = [x / y for x, y in zip(medians[b], medians[binaries[0]])]
        print(f"{b}: median {statistics.median(medians[b]):.3f}s, ratio to the first: median {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
