#!/usr/bin/env bash
# CI smoke for the fuzz targets: install cargo-fuzz if it is missing, build
# every target once, then fuzz each for a few seconds from its committed
# seeds (fuzz/corpus/<target>), failing on the first crash. The corpus a run
# grows goes to a scratch dir and is thrown away.
#
#   bash fuzz/smoke.sh            # 20 s per target
#   FUZZ_SECONDS=600 bash fuzz/smoke.sh   # the long runs
#
# cargo-fuzz drives libFuzzer and AddressSanitizer through unstable rustc
# flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
started=$SECONDS

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  install_started=$SECONDS
  cargo install cargo-fuzz --locked
  echo "== cargo-fuzz installed in $((SECONDS - install_started)) s"
fi

export RUSTC_BOOTSTRAP=1

echo "== cargo fuzz build"
build_started=$SECONDS
cargo fuzz build
echo "== built in $((SECONDS - build_started)) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

for target in $(cargo fuzz list); do
  echo "== fuzzing $target for $seconds s"
  mkdir -p "$scratch/$target"
  if ! cargo fuzz run "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$scratch/$target.log" 2>&1; then
    tail -n 80 "$scratch/$target.log"
    echo "== FAILED: $target crashed; the input is under fuzz/artifacts/$target/"
    exit 1
  fi
  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec)' "$scratch/$target.log" || true
  grep -E '^#[0-9]+' "$scratch/$target.log" | tail -n 1 || true
done

echo "== fuzz smoke passed: $(cargo fuzz list | wc -l) targets, $((SECONDS - started)) s in all"
