#!/usr/bin/env python3
"""A/B test of two or more bench_ae16 binaries (e.g. before and after a change), run in turn (the order rotating
every round, so two builds alternate), each round only once the machine is quiet, with the median epoch time of
each and its ratio to the first build's in that round.

    python3 tools/bench/ab.py /tmp/bench_A /tmp/bench_B [/tmp/bench_C ...] --batch 32 --epochs 3 --rounds 3
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import disturbance, run, wait_quiet  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("binaries", nargs="+", help="two or more; the first is the baseline")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quiet", type=float, default=0.08)
    p.add_argument("--max-wait", type=float, default=300)
    p.add_argument("--extra", default="--infer-reps 0", help="extra arguments for every build")
    args = p.parse_args()
    if len(args.binaries) < 2:
        p.error("give at least two binaries to compare")
    binaries = args.binaries
    common = ["--epochs", str(args.epochs), "--batch", str(args.batch), "--threads", str(args.threads)]
    common += args.extra.split()
    medians = {b: [] for b in binaries}
    ratios = {b: [] for b in binaries}
    for round_ in range(args.rounds):
        quiet, waited = wait_quiet(args.quiet, 3, args.max_wait)
        shift = round_ % len(binaries)
        results = {b: run([b] + common) for b in binaries[shift:] + binaries[:shift]}
        for b in binaries:
            medians[b].append(results[b]["median_epoch_s"])
            ratios[b].append(medians[b][-1] / medians[binaries[0]][-1])
        worst = max(disturbance(r) for r in results.values())
        cells = "  ".join(f"{os.path.basename(b)} {medians[b][-1]:.3f}s ({ratios[b][-1]:.3f})" for b in binaries)
        print(f"round {round_ + 1}: {cells}  [other+steal max {worst:.2f}, quiet {quiet} after {waited:.0f}s]",
              flush=True)
    for b in binaries:
        print(f"{b}: median {statistics.median(medians[b]):.3f}s, ratio to the first: median "
              f"{statistics.median(ratios[b]):.3f}")


if __name__ == "__main__":
    main()
