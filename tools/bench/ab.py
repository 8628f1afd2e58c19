#!/usr/bin/env python3
"""A/B test of two bench_ae16 binaries (e.g. before and after a change), run alternately, each round only once
the machine is quiet, with the median epoch time of each and their ratio (B / A) per round.

    python3 tools/bench/ab.py /tmp/bench_A /tmp/bench_B --batch 32 --epochs 3 --rounds 3 [--threads 2]
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import disturbance, run, wait_quiet  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quiet", type=float, default=0.08)
    p.add_argument("--max-wait", type=float, default=300)
    p.add_argument("--extra", default="--infer-reps 0", help="extra arguments for both")
    args = p.parse_args()
    common = ["--epochs", str(args.epochs), "--batch", str(args.batch), "--threads", str(args.threads)]
    common += args.extra.split()
    ratios, medians = [], {"A": [], "B": []}
    for round_ in range(1, args.rounds + 1):
        quiet, waited = wait_quiet(args.quiet, 3, args.max_wait)
        order = [("A", args.a), ("B", args.b)] if round_ % 2 else [("B", args.b), ("A", args.a)]
        results = {name: run([binary] + common) for name, binary in order}
        for name in medians:
            medians[name].append(results[name]["median_epoch_s"])
        ratio = results["B"]["median_epoch_s"] / results["A"]["median_epoch_s"]
        ratios.append(ratio)
        worst = max(disturbance(r) for r in results.values())
        print(f"round {round_}: A {results['A']['median_epoch_s']:.3f}s  B {results['B']['median_epoch_s']:.3f}s  "
              f"B/A {ratio:.3f}  [other+steal max {worst:.2f}, quiet {quiet} after {waited:.0f}s]", flush=True)
    print(f"median A {statistics.median(medians['A']):.3f}s  B {statistics.median(medians['B']):.3f}s  "
          f"B/A {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
