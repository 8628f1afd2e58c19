#!/usr/bin/env python3
"""Runs bench_ae16 (or bench_cae16, bench_vae2: --workload) and anchor frameworks back to back, alternating, and
prints the ratios of their median epoch times (ours / theirs), round by round and as the median over rounds.

    python3 tools/bench/compare.py --batch 256 --epochs 5 --rounds 3 [--anchors jax,numpy,torch] [--threads 2]
    python3 tools/bench/compare.py --workload cae16 --limit 3000 --batch 32 --epochs 3 --rounds 2

Expects `cargo build --release --example bench_ae16` to have been run, the anchors at ../shared/bench/anchors
(or --anchors-dir) and their virtualenv at $HOME/.venvs/anchors (or --python). Every run's JSON line is
appended to --log (default target/bench/compare.jsonl) with the round and a time stamp.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run(cmd, env=None):
    started = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    last = proc.stdout.strip().splitlines()[-1]
    result = json.loads(last)
    result["wall_s"] = round(time.time() - started, 2)
    return result


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def busy_fraction(seconds):
    """The machine's busy CPU share over `seconds` (nothing of ours runs while this waits)."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return v[0] + v[1] + v[2] + v[5] + v[6], sum(v)
    a = sample()
    time.sleep(seconds)
    b = sample()
    return (b[0] - a[0]) / max(1, b[1] - a[1])


def wait_quiet(threshold, windows, max_wait):
    """Waits until the machine has been quiet (busy share below `threshold`) for `windows` 2-second windows."""
    started, quiet = time.time(), 0
    while time.time() - started < max_wait:
        quiet = quiet + 1 if busy_fraction(2.0) < threshold else 0
        if quiet >= windows:
            return True, time.time() - started
    return False, time.time() - started


def disturbance(result):
    """The largest share of the machine other processes used during a timed epoch (epochs 2..N)."""
    other = result.get("other_cpu_frac") or [0.0]
    steal = result.get("steal_frac") or [0.0] * len(other)
    both = [o + s for o, s in zip(other, steal)]
    timed = both[1:] if len(both) > 1 else both
    return max(timed)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", default="ae16", help="ae16, cae16 or vae2: bench_<w> against <w>_<anchor>.py")
    p.add_argument("--limit", type=int, default=0, help="train on the first N images only (both sides)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--anchors", default="jax", help="comma-separated: jax,numpy,torch,keras")
    p.add_argument("--infer-reps", type=int, default=0)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--anchors-dir", default=os.path.join(ROOT, "..", "shared", "bench", "anchors"))
    p.add_argument("--python", default=os.path.expanduser("~/.venvs/anchors/bin/python"))
    p.add_argument("--ours", default=None, help="our benchmark binary (default target/release/examples/bench_<w>)")
    p.add_argument("--log", default=os.path.join(ROOT, "target", "bench", "compare.jsonl"))
    p.add_argument("--quiet", type=float, default=0.08, help="busy share below which the machine counts as quiet")
    p.add_argument("--max-wait", type=float, default=300, help="seconds to wait for quiet before a round")
    p.add_argument("--disturbed", type=float, default=0.10,
                   help="repeat a round once if another process used more than this share during a timed epoch")
    p.add_argument("--ours-args", default="", help="extra arguments for bench_ae16, e.g. --steps")
    args = p.parse_args()
    os.makedirs(os.path.dirname(args.log), exist_ok=True)

    ours = args.ours or os.path.join(ROOT, "target", "release", "examples", f"bench_{args.workload}")
    common = ["--epochs", str(args.epochs), "--batch", str(args.batch), "--threads", str(args.threads),
              "--data", args.data]
    if args.workload != "vae2":
        common += ["--infer-reps", str(args.infer_reps)]
    if args.limit:
        common += ["--limit", str(args.limit)]
    anchor_env = dict(os.environ)
    # The machine may set these for old OpenBLAS builds; unset them to get the AVX-512 kernels (anchors README).
    anchor_env.pop("OPENBLAS_CORETYPE", None)
    anchor_env.pop("OPENBLAS_L2_SIZE", None)
    commands = {"autoencoder": [ours] + common + args.ours_args.split()}
    for name in args.anchors.split(","):
        if name:
            commands[name] = [args.python, os.path.join(args.anchors_dir, f"{args.workload}_{name}.py")] + common

    ratios = {name: [] for name in commands if name != "autoencoder"}
    medians = {name: [] for name in commands}
    for round_ in range(1, args.rounds + 1):
        for attempt in (1, 2):
            quiet, waited = wait_quiet(args.quiet, 3, args.max_wait)
            results = {}
            # alternate the order so that neither side always runs first
            order = list(commands) if round_ % 2 else list(reversed(list(commands)))
            for name in order:
                load = loadavg()
                results[name] = run(commands[name], anchor_env if name != "autoencoder" else None)
                results[name]["loadavg_before"] = load
                results[name]["started_quiet"] = quiet
                with open(args.log, "a") as log:
                    log.write(json.dumps({"round": round_, "attempt": attempt,
                                          "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                          "name": name, **results[name]}) + "\n")
            worst = max(disturbance(r) for r in results.values())
            if worst <= args.disturbed:
                break
            print(f"round {round_} attempt {attempt} disturbed (other processes used {worst:.2f} of the machine)",
                  flush=True)
        for name in commands:
            medians[name].append(results[name]["median_epoch_s"])
        ours = results["autoencoder"]["median_epoch_s"]
        line = [f"round {round_}: autoencoder {ours:.3f}s"]
        for name in ratios:
            theirs = results[name]["median_epoch_s"]
            ratios[name].append(ours / theirs)
            line.append(f"{name} {theirs:.3f}s (ratio {ours / theirs:.3f})")
        line.append(f"[max other_cpu {worst:.2f}, waited {waited:.0f}s for quiet: {quiet}]")
        print("; ".join(line), flush=True)

    print(f"batch {args.batch}, {args.epochs} epochs, {args.threads} threads, {args.rounds} rounds:")
    for name, values in medians.items():
        print(f"  {name}: median of medians {statistics.median(values):.3f}s  {values}")
    for name, values in ratios.items():
        print(f"  ratio autoencoder/{name}: median {statistics.median(values):.3f}  "
              f"{[round(v, 3) for v in values]}")


if __name__ == "__main__":
    main()
