#!/usr/bin/env bash
# Runs benches/verify.rs (see BENCHMARKS.md) and keeps its output in target/bench-verify.log.
#
#   scripts/bench-verify.sh                 # everything, ~1–3 minutes
#   VERIFY_BENCH_ONLY=verify scripts/bench-verify.sh
#   VERIFY_BENCH_ONLY=parse  scripts/bench-verify.sh
#
# Until Cargo.toml declares the bench ([[bench]] name = "verify", harness = false), the crate
# is copied (without target/) to $BENCH_SCRATCH (default /work/scratch/bench-verify), the
# stanza is appended there, and the bench runs from the copy with its own target directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log="${BENCH_LOG:-$root/target/bench-verify.log}"
mkdir -p "$(dirname "$log")"

if grep -q '^name = "verify"' "$root/Cargo.toml"; then
    crate="$root"
else
    crate="${BENCH_SCRATCH:-/work/scratch/bench-verify}"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$crate-target}"
    mkdir -p "$crate"
    tar -C "$root" --exclude=./target --exclude=./.git --exclude=./node_modules -cf - . | tar -C "$crate" -xf -
    printf '\n[[bench]]\nname = "verify"\nharness = false\n' >> "$crate/Cargo.toml"
    echo "Cargo.toml has no [[bench]] for verify: running from a copy in $crate" >&2
fi

cd "$crate"
{
    echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores, $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    cargo bench --bench verify 2>&1
} | tee "$log"
