#!/bin/sh
# Where an AE-16 epoch's CPU time goes: samples (perf, cpu-clock, frame-pointer call graphs) summed by the
# crate's functions, as shares of the samples taken during training (the data loading is left out).
#   tools/bench/profile.sh BATCH THREADS [EPOCHS]
# Needs `perf` (Debian: linux-perf); builds a frame-pointer copy of bench_ae16 in /tmp/prof-target.
set -e
BATCH=${1:-256}; THREADS=${2:-2}; EPOCHS=${3:-3}
cd "$(dirname "$0")/../.."
RUSTFLAGS="-C force-frame-pointers=yes -g" CARGO_TARGET_DIR=/tmp/prof-target \
    cargo build --release --example bench_ae16 >/dev/null 2>&1
perf record -q -e cpu-clock -F 999 --call-graph fp -o /tmp/ae16.perf \
    /tmp/prof-target/release/examples/bench_ae16 --epochs "$EPOCHS" --batch "$BATCH" --threads "$THREADS" \
    --infer-reps 0 2>&1 | grep "epoch "
perf report -i /tmp/ae16.perf --children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' > /tmp/ae16.children
perf report -i /tmp/ae16.perf --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' > /tmp/ae16.self
python3 - <<'PY'
import re
rows = {}
for line in open('/tmp/ae16.children'):
    m = re.match(r'\s+([\d.]+)%\s+([\d.]+)%\s+\[.\]\s+(.*?)\s{2,}', line) or re.match(r'\s+([\d.]+)%\s+([\d.]+)%\s+\[.\]\s+(.*)', line)
    if m:
        rows.setdefault(m.group(3).strip(), (float(m.group(1)), float(m.group(2))))
def children(pattern):
    return max([v[0] for k, v in rows.items() if re.search(pattern, k)] or [0.0])
selfs = []
for line in open('/tmp/ae16.self'):
    m = re.match(r'\s+([\d.]+)%\s+\[(.)\]\s+(.*?)\s{2,}', line)
    if m:
        selfs.append((float(m.group(1)), m.group(2), m.group(3).strip()))
def own(pattern):
    return sum(v for v, _, k in selfs if re.search(pattern, k))
kernel = sum(v for v, space, _ in selfs if space == 'k')
load = children(r'mnist::Mnist::load$') + children(r'mnist::read_images$')
inference = children(r'bench_ae16::time_inference') + children(r'Autoencoder::reconstruct$') * 0
total = 100.0 - load
parts = [
    ("matrix products (src/matmul/kernel.rs: packing, kernel, stores)", children(r'matmul::kernel::product_then$')),
    ("element-wise sweeps: forward (bias + activation)", children(r'sweeps::forward_serial$')),
    ("element-wise sweeps: backward (activation' + bias sum)", children(r'sweeps::(backward_serial|activation_grad_bias_sum)$')),
    ("loss (MSE value + gradient)", children(r'Loss::value_and_gradient_into$')),
    ("Adam update", children(r'optim::adam::update_elements$')),
    ("NaN/inf check of the gradients", children(r'Workspace::scan_gradients$')),
    ("batch gathering (fit)", own(r'batches::gather_') + children(r'batches::gather_split$')),
    ("the pool's gate watching for the next step", own(r'gate::Gate::(serve|watch_for_work)')),
]
print(f"samples in training: {total:.1f}% of all (data loading {load:.1f}%)")
known = 0.0
for name, share in parts:
    known += share
    print(f"  {100 * share / total:5.1f}%  {name}")
print(f"  {100 * kernel / total:5.1f}%  in the kernel: thread sleeps and wake-ups (futex, sched_yield), page faults")
# kernel samples taken inside the crate's functions count twice (there and here), so the rest can come out
# slightly negative: shown as 0
print(f"  {max(0.0, 100 * (total - known - kernel) / total):5.1f}%  the rest: rayon's waiting and stealing, bookkeeping")
PY
