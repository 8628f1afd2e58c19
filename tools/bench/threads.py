#!/usr/bin/env python3
"""What each training thread spends its CPU samples on, and what the other thread does while one of them waits.

Reads the perf recording that `tools/bench/profile.sh` leaves in /tmp/ae16.perf (frame-pointer call graphs):

    tools/bench/profile.sh 256 2 3
    python3 tools/bench/threads.py [/tmp/ae16.perf]

Each sample counts for the first category found walking its stack from the leaf up (so a product half run by the
thread that copies the next batch counts as a product, not as the copy). Threads with fewer than 100 samples
outside the data loading (the main thread while the pool trains, the loader) are left out.
"""
import bisect
import collections
import re
import subprocess
import sys

CATEGORIES = [
    ("data loading", r"Mnist::load|read_images|inflate"),
    ("products", r"product_then|pack_groups|matmul::kernel|matmul::transpose"),
    ("Adam", r"optim::adam"),
    ("batch copy", r"batches::(gather|copy|Piece)|memmove"),
    ("input noise", r"noise::"),
    ("sweeps (bias, activation, derivative)", r"sweeps::|epilogue::"),
    ("loss", r"loss::|Loss::"),
    ("waiting: sched_yield", r"yield"),
    ("waiting: futex, sleep", r"futex|Condvar|park|Sleep::sleep"),
    ("waiting: the gate and helpers watching for work", r"gate::|awake::"),
]
WAITING = "waiting"  # the categories above whose names start so
# the frames that tell which part of the step a sample belongs to
STEP_PARTS = r"backward_beside|backward_rest|backward_sweep|forward_into|update_elements|value_and_gradient"


def samples(recording):
    script = subprocess.run(["perf", "script", "-i", recording, "-F", "tid,time,ip,sym"],
                            capture_output=True, text=True, check=True).stdout
    current = None
    for line in script.splitlines():
        header = re.match(r"^\s*(\d+)\s+([\d.]+):\s*$", line)
        if header:
            if current:
                yield current
            current = (int(header.group(1)), float(header.group(2)), [])
        elif line.strip() and current:
            parts = line.strip().split(None, 1)
            current[2].append(parts[1] if len(parts) > 1 else "")
    if current:
        yield current


def category(frames):
    for frame in frames:
        for name, pattern in CATEGORIES:
            if re.search(pattern, frame):
                return name
    return "other"


def main():
    recording = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ae16.perf"
    stacks = [(tid, time, frames, category(frames)) for tid, time, frames in samples(recording)]
    per_thread = collections.defaultdict(collections.Counter)
    for tid, _, _, name in stacks:
        per_thread[tid][name] += 1
    training = {tid: counts for tid, counts in per_thread.items()
                if sum(counts.values()) - counts["data loading"] >= 100}
    for tid, counts in training.items():
        total = sum(counts.values()) - counts["data loading"]
        print(f"thread {tid}: {total} samples in training")
        for name, count in counts.most_common():
            if name != "data loading":
                print(f"  {100 * count / total:5.1f}%  {name}")
    if len(training) != 2:
        return
    first, second = training
    for waiter, other in ((first, second), (second, first)):
        others = [(time, frames, name) for tid, time, frames, name in stacks if tid == other]
        times = [time for time, _, _ in others]
        doing, parts = collections.Counter(), collections.Counter()
        for tid, time, _, name in stacks:
            if tid != waiter or not name.startswith(WAITING) or not others:
                continue
            i = bisect.bisect_left(times, time)
            nearest = min((j for j in (i - 1, i) if 0 <= j < len(others)), key=lambda j: abs(times[j] - time))
            _, frames, other_name = others[nearest]
            doing[other_name] += 1
            part = next((f for f in frames if re.search(STEP_PARTS, f)), "elsewhere")
            parts[re.sub(r"^.*::(\w+)(::\{\{closure\}\})?$", r"\1", part)] += 1
        total = sum(doing.values())
        if total:
            print(f"while thread {waiter} waits ({total} samples), thread {other} runs:")
            for name, count in doing.most_common(6):
                print(f"  {100 * count / total:5.1f}%  {name}")
            print("  in the step's part:", ", ".join(f"{p} {100 * c / total:.0f}%" for p, c in parts.most_common(6)))


if __name__ == "__main__":
    main()
