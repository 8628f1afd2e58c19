#!/usr/bin/env bash
# Seeds fuzz/corpus/png_read with small PNGs of every kind (grey, grey + alpha, RGB, RGBA, 8 and 16 bits,
# palettes with and without tRNS, 1- and 4-bit grey, interlaced, animated), written by an ignored test. The corpus
# is not committed (see .gitignore): run this once before the first
#   RUSTC_BOOTSTRAP=1 cargo fuzz run png_read -- -dict=png_read.dict -max_total_time=600 -rss_limit_mb=1024
# (and the same with `cargo fuzz run -a`, debug assertions on, so that an overflow is a crash).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --quiet --test png write_fuzz_seeds -- --ignored
echo "seeded $(ls fuzz/corpus/png_read | wc -l) files in fuzz/corpus/png_read"
