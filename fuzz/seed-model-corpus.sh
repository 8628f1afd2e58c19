#!/usr/bin/env bash
# Seeds fuzz/corpus/model_load with small model and checkpoint files written by the crate itself (an ignored
# test writes them). The corpus is not committed (see .gitignore): run this once before the first
#   RUSTC_BOOTSTRAP=1 cargo fuzz run model_load -- -dict=model_load.dict -max_total_time=300 -rss_limit_mb=1024
# (and the same with `cargo fuzz run -a`, debug assertions on, so that an overflow is a crash).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --quiet --test persistence write_fuzz_seeds -- --ignored
echo "seeded $(ls fuzz/corpus/model_load | wc -l) files in fuzz/corpus/model_load"
