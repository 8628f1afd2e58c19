#!/usr/bin/env python3
"""A/B test of two or more bench_shapes binaries (the example built from two trees, before and after a change), run
in turn (the order rotating every round), with each workload's median time per build and the median over rounds of
its ratio to the first build's time in the same round.

    cargo build --release --example bench_shapes && cp target/release/examples/bench_shapes /tmp/shapes_new
    python3 tools/bench/shapes_ab.py /tmp/shapes_old /tmp/shapes_new --rounds 5 --reps 5 [--only gelu]
"""
import argparse
import os
import statistics
import subprocess


def run(binary, args):
    """One run of `binary`: {workload: milliseconds}."""
    out = subprocess.run([binary] + args, check=True, capture_output=True, text=True, timeout=1800).stdout
    times = {}
    for line in out.splitlines():
        name, ms = line.rsplit("\t", 1)
        times[name.strip()] = float(ms)
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("binaries", nargs="+", help="two or more; the first is the baseline")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", default="", help="only the workloads whose name contains this")
    args = p.parse_args()
    if len(args.binaries) < 2:
        p.error("give at least two binaries to compare")
    binaries = args.binaries
    common = ["--reps", str(args.reps), "--threads", str(args.threads), "--only", args.only]
    rounds = []
    for round_ in range(args.rounds):
        shift = round_ % len(binaries)
        rounds.append({b: run(b, common) for b in binaries[shift:] + binaries[:shift]})
        print(f"round {round_ + 1} of {args.rounds} done", flush=True)
    names = list(rounds[0][binaries[0]])
    labels = [os.path.basename(b) for b in binaries]
    print(f"{'workload':38}" + "".join(f"{label[:12]:>13}" for label in labels) + "   ratio to the first")
    for name in names:
        medians = [statistics.median(r[b][name] for r in rounds) for b in binaries]
        ratios = [statistics.median(r[b][name] / r[binaries[0]][name] for r in rounds) for b in binaries[1:]]
        print(f"{name:38}" + "".join(f"{m:13.2f}" for m in medians) + "   " + " ".join(f"{x:.3f}" for x in ratios))


if __name__ == "__main__":
    main()
