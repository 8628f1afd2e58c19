#!/usr/bin/env bash
# Seeds fuzz/corpus/idx_read with small valid IDX files of every element type, raw and gzipped, and a few
# near-misses. The corpus is not committed (see .gitignore): run this once before the first
#   RUSTC_BOOTSTRAP=1 cargo fuzz run idx_read -- -max_total_time=600 -rss_limit_mb=512 -malloc_limit_mb=512
set -euo pipefail
cd "$(dirname "$0")"
dir=corpus/idx_read
mkdir -p "$dir"

seed() { # name, then the bytes as printf escapes
  local name=$1
  shift
  printf "$@" >"$dir/$name"
  gzip -n -c "$dir/$name" >"$dir/$name.gz"
}

seed u8-2x3 '\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x03\x00\x01\x7f\x80\xfe\xff'
seed i8-4 '\x00\x00\x09\x01\x00\x00\x00\x04\x80\xff\x00\x7f'
seed i16-scalar '\x00\x00\x0b\x00\xff\xfe'
seed i32-1x2x1 '\x00\x00\x0c\x03\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x01\x80\x00\x00\x00\x7f\xff\xff\xff'
seed f32-2 '\x00\x00\x0d\x01\x00\x00\x00\x02\x3f\x80\x00\x00\x7f\xc0\x00\x00'
seed f64-1 '\x00\x00\x0e\x01\x00\x00\x00\x01\xc0\x00\x00\x00\x00\x00\x00\x00'
seed u8-3x0x2 '\x00\x00\x08\x03\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x02'
seed u8-cut-short '\x00\x00\x08\x01\x00\x00\x01\x00\x01\x02\x03'
seed html '<!DOCTYPE html><html><head><title>404 Not Found</title></head></html>\n'
gzip -n -c "$dir/u8-2x3.gz" >"$dir/u8-2x3.gz.gz"
echo "seeded $(ls "$dir" | wc -l) files in fuzz/$dir"
