#!/usr/bin/env bash
# Runs each fuzz target of fuzz/ for a fixed time (default 60 s each):
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# With a nightly toolchain, through cargo-fuzz (libFuzzer; installed from crates.io if missing).
# Without nightly (or with FUZZ_STANDALONE=1), the targets are built as plain binaries that run
# the seed corpus and mutations of it for the same time; no nightly needed.
# Seeds: tests/corpus/ (manifests, copy logs), fuzz/seeds/<target>/, fuzz/regressions/<target>/;
# libFuzzer keeps what it finds in fuzz/corpus/<target>/ (git-ignored).
# A crash is saved under fuzz/artifacts/<target>/; minimise it and keep it in fuzz/regressions/.
# FUZZ_SANITIZER=address turns on ASan (a full rebuild; the default `none` finds panics, which is
# what these targets check, and builds much faster).
set -euo pipefail

seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(manifest copy_log copy_log_2021 verbose_log side_files repair_file)
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"

have_nightly() {
    rustup toolchain list 2>/dev/null | grep -q '^nightly' \
        || rustup toolchain install nightly --profile minimal >/dev/null 2>&1
}

if [ "${FUZZ_STANDALONE:-0}" != 1 ] && have_nightly; then
    if ! cargo fuzz --version >/dev/null 2>&1; then
        cargo install cargo-fuzz --locked
    fi
    for target in "${targets[@]}"; do
        corpus="$root/fuzz/corpus/$target"
        mkdir -p "$corpus"
        # Seeds: the test corpus and the regressions (libFuzzer adds what it finds to $corpus).
        seeds=("$corpus")
        case "$target" in
            manifest) seeds+=("$root/tests/corpus/manifest") ;;
            copy_log) seeds+=("$root/tests/corpus/copylog") ;;
        esac
        case "$target" in
            manifest | copy_log | side_files)
                cp "$root/tests/corpus/valid.manifest.xml" "$root/tests/corpus/valid.copylog.xml" "$corpus/" ;;
            repair_file) ;; # the target writes its generated seed into $corpus itself (init)
        esac
        [ -d "$root/fuzz/seeds/$target" ] && seeds+=("$root/fuzz/seeds/$target")
        [ -d "$root/fuzz/regressions/$target" ] && seeds+=("$root/fuzz/regressions/$target")
        echo "== cargo fuzz: $target for ${seconds}s"
        cargo +nightly fuzz run --sanitizer "${FUZZ_SANITIZER:-none}" "$target" "${seeds[@]}" -- \
            -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    done
else
    if [ "${FUZZ_STANDALONE:-0}" = 1 ]; then
        echo "FUZZ_STANDALONE=1: running the targets as plain binaries (seed corpus + mutations)"
    else
        echo "no nightly toolchain: running the targets as plain binaries (seed corpus + mutations)"
    fi
    cargo build --release --bins
    for target in "${targets[@]}"; do
        echo "== standalone: $target for ${seconds}s"
        "target/release/$target" --seconds "$seconds"
    done
fi
