#!/usr/bin/env bash
# CI smoke for the fuzz targets: install cargo-fuzz if it is missing, build
# every target once, then fuzz each for a few seconds from its committed
# seeds (fuzz/corpus/<target>), two targets at a time, failing if any
# crashes or breaks a property. The corpus a run grows goes to a scratch
# dir and is thrown away; a failing input is kept in fuzz/artifacts/<target>/.
#
#   bash fuzz/smoke.sh                      # 20 s per target, 2 at a time
#   FUZZ_SECONDS=600 FUZZ_JOBS=1 bash fuzz/smoke.sh   # long runs
#
# cargo-fuzz drives libFuzzer and AddressSanitizer through unstable rustc
# flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/.."

export FUZZ_SECONDS=${FUZZ_SECONDS:-20}
jobs=${FUZZ_JOBS:-2}
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

FUZZ_SCRATCH=$(mktemp -d)
export FUZZ_SCRATCH
trap 'rm -rf "$FUZZ_SCRATCH"' EXIT

# One target: fuzz it, print its figures, or its log's end if it failed.
fuzz_one() {
  local target=$1 log="$FUZZ_SCRATCH/$1.log"
  mkdir -p "$FUZZ_SCRATCH/$target"
  if cargo fuzz run "$target" "$FUZZ_SCRATCH/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 >"$log" 2>&1; then
    echo "== $target: $(grep -E '^#[0-9]+' "$log" | tail -n 1)"
  else
    tail -n 80 "$log"
    echo "== FAILED: $target; the input is under fuzz/artifacts/$target/"
    return 1
  fi
}
export -f fuzz_one

echo "== fuzzing each target for $FUZZ_SECONDS s, $jobs at a time"
fuzz_started=$SECONDS
# shellcheck disable=SC2016 # $1 is expanded by the inner bash
if ! cargo fuzz list | xargs -P "$jobs" -I{} bash -c 'fuzz_one "$1"' _ {}; then
  echo "== fuzz smoke FAILED after $((SECONDS - started)) s"
  exit 1
fi
echo "== fuzzed in $((SECONDS - fuzz_started)) s"
echo "== fuzz smoke passed: $(cargo fuzz list | wc -l) targets, $((SECONDS - started)) s in all"
