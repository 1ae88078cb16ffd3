#!/usr/bin/env bash
# Runs benches/console.rs (see BENCHMARKS.md) and keeps its output in target/bench-console.log.
#
#   scripts/bench-console.sh                        # everything, ~2 minutes
#   CONSOLE_BENCH_ONLY=render scripts/bench-console.sh
#   CONSOLE_BENCH_ONLY=keys   scripts/bench-console.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log="${BENCH_LOG:-$root/target/bench-console.log}"
mkdir -p "$(dirname "$log")"
cd "$root"
{
    echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores, $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    cargo bench --bench console 2>&1
} | tee "$log"
