#!/usr/bin/env bash
# Repair download from Azurite against Microsoft's Python SDK and rclone (DESIGN.md,
# "Performance targets": export-repair >= 1.0 x `download_blob(max_concurrency=8)` and
# >= 0.8 x `rclone cat` of the whole blob, measured in one run on the same bytes).
#
#   bash scripts/bench-repair.sh            # from the repository root
#
# Installs what it uses when missing: the Python SDK (scripts/bench-requirements.txt) into a
# venv at target/bench-venv, rclone from Debian (apt-get, only if `rclone` is not on PATH),
# Azurite via `npm ci` (only if node_modules lacks it); builds `cargo build --release`.
#
# Knobs (environment):
#   BENCH_SIZE_MIB=512    size of the test blob (a multiple of 4 MiB is simplest)
#   BENCH_RUNS=3          rounds; each round runs every tool once (interleaved), medians reported
#   BENCH_WHOLE_FILE=1    also time the copy-log-only repair (no manifest: the whole-file path);
#                         informational, not one of the targets. 0 skips it.
#   EXPORT_REPAIR_BIN=…   time this binary instead of building the release one
#   EXPORT_REPAIR_ARGS=…  extra arguments for `export-repair repair` (e.g. "--concurrency 16")
#   BENCH_STRICT=1        exit 1 when a target is missed (default: report only)
#   BENCH_SDK=0           skip the Python SDK (its runs take the longest); its ratio is not printed
#   BENCH_PROFILE=FILE    after the rounds, one more repair under `perf record` (call graphs) into
#                         FILE; `perf report -i FILE` shows where its CPU went
#
# Every output is checked against the blob's MD5, so nothing times a failure. The repair is
# timed as a whole process (start, repair file, download, pwrite+fsync+read-back, verify,
# report); the Python SDK is timed around download_blob(...).readinto(file) inside its process
# (interpreter start and imports excluded: stricter for export-repair); rclone as a process.
# "CPU s" is user+sys of that work: on this shared 2-core machine wall time follows CPU share,
# so it is the steadier number. Ratios are of median throughputs; "per round" gives the ratio
# within each interleaved round. Every run line also gives Azurite's CPU seconds (it serves
# every tool from the same two cores) and how many cores' worth of CPU *other* processes took
# meanwhile (from /proc/stat: all busy time minus the tool's and Azurite's), as the verify
# bench does: on a shared machine, compare runs with similar "others". rclone reads through a
# container SAS URL: Debian's rclone 1.60 turns account+key+endpoint into
# https://<account>.<endpoint>, and its emulator switch is fixed to port 10000.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
SIZE_MIB=${BENCH_SIZE_MIB:-512}
RUNS=${BENCH_RUNS:-3}
WHOLE_FILE=${BENCH_WHOLE_FILE:-1}
ACCOUNT=devstoreaccount1
# Azurite's well-known development key (public, documented by Microsoft).
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

say() { printf '[bench-repair] %s\n' "$*" >&2; }

# --- 1. what the benchmark uses -------------------------------------------------------------
VENV=$ROOT/target/bench-venv
REQ=$ROOT/scripts/bench-requirements.txt
stamp=$(md5sum "$REQ" | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python || "$(cat "$VENV/.requirements" 2>/dev/null)" != "$stamp" ]]; then
    say "installing the Python SDK into $VENV"
    mkdir -p "$ROOT/target"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
    echo "$stamp" >"$VENV/.requirements"
fi
PY=$VENV/bin/python

if ! command -v rclone >/dev/null; then
    say "installing rclone from Debian"
    export DEBIAN_FRONTEND=noninteractive
    SUDO=; [[ $(id -u) -ne 0 ]] && SUDO=sudo
    $SUDO apt-get install -y rclone >/dev/null 2>&1 \
        || { $SUDO apt-get update -qq && $SUDO apt-get install -y rclone >/dev/null; }
fi

AZURITE=$ROOT/node_modules/.bin/azurite-blob
if [[ ! -x $AZURITE ]]; then
    say "installing Azurite (npm ci)"
    npm ci --no-audit --no-fund >/dev/null
fi

if [[ -n ${EXPORT_REPAIR_BIN:-} ]]; then
    BIN=$EXPORT_REPAIR_BIN
else
    say "building the release binary"
    cargo build --release --quiet --bin export-repair
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/export-repair
fi
[[ -x $BIN ]] || { say "no binary at $BIN"; exit 1; }

# --- 2. Azurite -----------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-repair.XXXXXX")
AZURITE_PID=
cleanup() {
    if [[ -n $AZURITE_PID ]]; then
        kill "$AZURITE_PID" 2>/dev/null || true
        wait "$AZURITE_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for _ in 1 2 3; do
    PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$AZURITE" --blobHost 127.0.0.1 --blobPort "$PORT" --inMemoryPersistence \
        --skipApiVersionCheck --disableTelemetry --silent >"$WORK/azurite.log" 2>&1 &
    AZURITE_PID=$!
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        kill -0 "$AZURITE_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$AZURITE_PID" 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        break
    fi
    kill "$AZURITE_PID" 2>/dev/null || true
    wait "$AZURITE_PID" 2>/dev/null || true
    AZURITE_PID=
done
[[ -n $AZURITE_PID ]] || { say "Azurite did not start:"; cat "$WORK/azurite.log" >&2; exit 1; }
ENDPOINT=http://127.0.0.1:$PORT/$ACCOUNT
say "Azurite on $ENDPOINT (pid $AZURITE_PID)"

# --- 3. the blob and the export drive -------------------------------------------------------
cat >"$WORK/prepare.py" <<'PY'
"""Uploads a random blob; writes the drive manifest (4 MiB blocks) and a copy log that
reports the blob FileNotFound; writes a read-only container SAS for rclone."""
import datetime, hashlib, os, sys
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

endpoint, account, key, work, size_mib = sys.argv[1:6]
size, block = int(size_mib) << 20, 4 << 20
path = os.path.join(work, "blob.bin")
blocks, whole = [], hashlib.md5()
with open(path, "wb") as out:
    for offset in range(0, size, block):
        data = os.urandom(min(block, size - offset))
        blocks.append((offset, len(data), hashlib.md5(data).hexdigest().upper()))
        whole.update(data)
        out.write(data)
service = BlobServiceClient(endpoint, credential={"account_name": account, "account_key": key})
container = service.create_container("bench")
blob = container.get_blob_client("blob.bin")
with open(path, "rb") as data:
    blob.upload_blob(data, length=size, max_concurrency=4, overwrite=True)
os.remove(path)
last_modified = blob.get_blob_properties().last_modified.astimezone(datetime.timezone.utc)
stamp = last_modified.strftime("%Y-%m-%dT%H:%M:%SZ")

drive_id = "BENCH-DRIVE"
rows = "\n".join(
    f'          <Block Offset="{o}" Length="{n}" Hash="{h}" />' for o, n, h in blocks)
with open(os.path.join(work, "drive.manifest"), "w") as f:
    f.write(f"""<?xml version="1.0" encoding="UTF-8"?>
<DriveManifest Version="2014-11-01">
  <Drive>
    <DriveId>{drive_id}</DriveId>
    <BlobList>
      <Blob>
        <BlobPath>bench/blob.bin</BlobPath>
        <FilePath>\\bench\\blob.bin</FilePath>
        <Length>{size}</Length>
        <BlockList>
{rows}
        </BlockList>
      </Blob>
    </BlobList>
  </Drive>
</DriveManifest>
""")
with open(os.path.join(work, "copy.xml"), "w") as f:
    f.write(f"""<?xml version="1.0" encoding="UTF-8"?>
<DriveLog Version="2014-11-01">
  <DriveId>{drive_id}</DriveId>
  <Blob Status="FileNotFound">
    <BlobPath>bench/blob.bin</BlobPath>
    <FilePath>\\bench\\blob.bin</FilePath>
    <Length>{size}</Length>
    <LastModified>{stamp}</LastModified>
  </Blob>
  <Status>CompletedWithErrors</Status>
</DriveLog>
""")
sas = generate_container_sas(
    account, "bench", account_key=key,
    permission=ContainerSasPermissions(read=True, list=True),
    expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=6))
with open(os.path.join(work, "sas_url"), "w") as f:
    f.write(f"{endpoint}/bench?{sas}")
print(whole.hexdigest())
PY

cat >"$WORK/sdk_download.py" <<'PY'
"""Times BlobClient.download_blob(max_concurrency=8).readinto(file); prints wall and CPU s."""
import resource, sys, time
from azure.storage.blob import BlobClient

endpoint, account, key, out = sys.argv[1:5]
client = BlobClient(endpoint, "bench", "blob.bin",
                    credential={"account_name": account, "account_key": key})
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
start, start_cpu = time.perf_counter(), cpu()
with open(out, "wb") as f:
    client.download_blob(max_concurrency=8).readinto(f)
print(f"{time.perf_counter() - start:.6f} {cpu() - start_cpu:.6f}")
PY

say "uploading a ${SIZE_MIB} MiB blob and writing the export drive"
BLOB_MD5=$("$PY" "$WORK/prepare.py" "$ENDPOINT" "$ACCOUNT" "$KEY" "$WORK" "$SIZE_MIB")
BYTES=$((SIZE_MIB << 20))
touch "$WORK/rclone.conf"
export RCLONE_CONFIG_AZ_TYPE=azureblob
RCLONE_CONFIG_AZ_SAS_URL=$(cat "$WORK/sas_url")
export RCLONE_CONFIG_AZ_SAS_URL

# --- 4. the runs ----------------------------------------------------------------------------
# Each run prints "wall_seconds cpu_seconds" (cpu = user + sys of the process; for the SDK,
# of the download inside its process).
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
check() { # tool file
    local got
    got=$(md5sum "$2" | cut -d' ' -f1)
    if [[ $got != "$BLOB_MD5" ]]; then
        say "$1 produced different bytes (MD5 $got, blob $BLOB_MD5)"
        exit 1
    fi
    rm -f "$2"
}
# Busy CPU seconds of the whole machine (all but idle and iowait), and of Azurite.
ticks=$(getconf CLK_TCK)
machine_busy() { awk -v hz="$ticks" '/^cpu / { printf "%.2f\n", ($2+$3+$4+$7+$8+$9) / hz }' /proc/stat; }
azurite_cpu() { awk -v hz="$ticks" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12+$13) / hz }' "/proc/$AZURITE_PID/stat"; }
timed() { # file command... : runs command, writes "real user sys others azurite" to file
    local file=$1 TIMEFORMAT='%R %U %S' busy azurite
    shift
    busy=$(machine_busy) azurite=$(azurite_cpu)
    { time "$@"; } 2>"$file.time"
    read -r real user sys <"$file.time"
    # others: cores' worth of CPU that neither the tool nor Azurite took during the run.
    awk -v real="$real" -v user="$user" -v sys="$sys" -v b0="$busy" -v b1="$(machine_busy)" \
        -v a0="$azurite" -v a1="$(azurite_cpu)" 'BEGIN {
            others = (b1 - b0 - user - sys - (a1 - a0)) / real
            printf "%s %s %s %.2f %.2f\n", real, user, sys, (others < 0 ? 0 : others), a1 - a0 }' >"$file"
    rm -f "$file.time"
}
wall_cpu() { awk '{ printf "%.6f %.6f %s %s\n", $1, $2 + $3, $4, $5 }' "$1"; }

run_repair() { # round mode(manifest|copylog)
    local dir=$WORK/er-$1-$2 code=0 manifest_args=()
    mkdir -p "$dir/drive" "$dir/logs"
    [[ $2 == manifest ]] && manifest_args=(--manifest "$WORK/drive.manifest")
    # shellcheck disable=SC2086 # EXPORT_REPAIR_ARGS is split on purpose
    timed "$dir/time" sh -c 'exec "$@" >"$0/stdout" 2>"$0/stderr"' "$dir" \
        "$BIN" repair --repair-file "$dir/drive.rep" --target "$dir/drive" \
        --account "$ACCOUNT" --account-key "$KEY" --blob-endpoint "$ENDPOINT" \
        --copy-log "$WORK/copy.xml" "${manifest_args[@]}" --headless \
        --log-dir "$dir/logs" --report "$dir/report.json" ${EXPORT_REPAIR_ARGS:-} || code=$?
    if [[ $code -ne 0 ]]; then
        say "export-repair ($2) exited $code:"; cat "$dir/stdout" "$dir/stderr" >&2; exit 1
    fi
    check "export-repair ($2)" "$dir/drive/bench/blob.bin"
    wall_cpu "$dir/time"
    rm -rf "$dir"
}

run_sdk() {
    local out=$WORK/sdk.bin result
    timed "$WORK/sdk.time" sh -c 'exec "$@" >"$0/sdk.result"' "$WORK" \
        "$PY" "$WORK/sdk_download.py" "$ENDPOINT" "$ACCOUNT" "$KEY" "$out"
    check "Python SDK" "$out"
    # The download's own wall and CPU seconds; others and Azurite over the whole process.
    echo "$(cat "$WORK/sdk.result") $(cut -d' ' -f4,5 "$WORK/sdk.time")"
}

run_rclone() {
    local out=$WORK/rclone.bin
    timed "$WORK/rclone.time" sh -c 'exec rclone --config "$0/rclone.conf" cat az:bench/blob.bin >"$0/rclone.bin"' "$WORK"
    check "rclone cat" "$out"
    wall_cpu "$WORK/rclone.time"
}

TOOLS=(repair rclone)
[[ ${BENCH_SDK:-1} == 1 ]] && TOOLS+=(sdk)
[[ $WHOLE_FILE == 1 ]] && TOOLS+=(whole)
declare -A TIMES CPUS OTHERS AZURITE
PAIRED_SDK= PAIRED_RCLONE=
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "$RUNS rounds of: ${TOOLS[*]} (load average before: $LOAD_BEFORE)"
for round in $(seq "$RUNS"); do
    declare -A THIS=()
    for tool in "${TOOLS[@]}"; do
        case $tool in
            repair) result=$(run_repair "$round" manifest) ;;
            whole) result=$(run_repair "$round" copylog) ;;
            sdk) result=$(run_sdk) ;;
            rclone) result=$(run_rclone) ;;
        esac
        read -r t cpu others azurite <<<"$result"
        TIMES[$tool]+="$t "
        CPUS[$tool]+="$cpu "
        OTHERS[$tool]+="$others "
        AZURITE[$tool]+="$azurite "
        THIS[$tool]=$t
        say "round $round: $tool $(printf '%.2f' "$t") s wall, $(printf '%.2f' "$cpu") s CPU," \
            "Azurite $azurite s CPU, others $others cores (load $(cut -d' ' -f1 /proc/loadavg))"
    done
    # Throughput ratios within the round (same bytes, so the inverse ratio of times).
    [[ -n ${THIS[sdk]:-} ]] && PAIRED_SDK+="$(calc "${THIS[sdk]} / ${THIS[repair]}") "
    PAIRED_RCLONE+="$(calc "${THIS[rclone]} / ${THIS[repair]}") "
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 5. the results -------------------------------------------------------------------------
median() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -A MED RATE MEDCPU
for tool in "${TOOLS[@]}"; do
    MED[$tool]=$(median "${TIMES[$tool]}")
    MEDCPU[$tool]=$(median "${CPUS[$tool]}")
    RATE[$tool]=$(calc "$BYTES / ${MED[$tool]} / 1000000")
done
label() {
    case $1 in
        repair) echo "export-repair repair (manifest, FileNotFound)" ;;
        sdk) echo "Python SDK download_blob(max_concurrency=8)" ;;
        rclone) echo "rclone cat" ;;
        whole) echo "export-repair repair (copy log only: whole file)" ;;
    esac
}
verdict() { awk "BEGIN { exit !($1 >= $2) }" && echo "ok" || echo "MISSED"; }
R_RCLONE=$(calc "${RATE[repair]} / ${RATE[rclone]}")
echo
echo "repair download from Azurite: ${SIZE_MIB} MiB blob, median of $RUNS interleaved rounds"
echo "cores: $(nproc); load average before $LOAD_BEFORE, after $LOAD_AFTER"
echo "$("$BIN" --version 2>/dev/null | head -1); rclone $(rclone version | head -1 | cut -d' ' -f2);" \
    "azure-storage-blob $("$PY" -c 'import azure.storage.blob as b; print(b.__version__)')"
printf '%-50s %8s %7s %7s %9s %8s   %s\n' tool "wall s" "MB/s" "CPU s" "Azurite s" "others" \
    "runs (wall s)"
for tool in "${TOOLS[@]}"; do
    printf '%-50s %8.2f %7.1f %7.2f %9.2f %8.2f   %s\n' "$(label "$tool")" "${MED[$tool]}" \
        "${RATE[$tool]}" "${MEDCPU[$tool]}" "$(median "${AZURITE[$tool]}")" \
        "$(median "${OTHERS[$tool]}")" "$(printf '%.2f ' ${TIMES[$tool]})"
done
echo "(CPU s: the tool's user+sys; Azurite s: the server's meanwhile; others: cores' worth taken"
echo " by every other process meanwhile; all medians)"
missed=
if [[ -n ${RATE[sdk]:-} ]]; then
    R_SDK=$(calc "${RATE[repair]} / ${RATE[sdk]}")
    printf 'ratio export-repair / Python SDK: %.2f (target >= 1.0: %s); per round: %s\n' \
        "$R_SDK" "$(verdict "$R_SDK" 1.0)" "$(printf '%.2f ' $PAIRED_SDK)"
    [[ $(verdict "$R_SDK" 1.0) == ok ]] || missed=1
fi
printf 'ratio export-repair / rclone cat: %.2f (target >= 0.8: %s); per round: %s\n' \
    "$R_RCLONE" "$(verdict "$R_RCLONE" 0.8)" "$(printf '%.2f ' $PAIRED_RCLONE)"
[[ $(verdict "$R_RCLONE" 0.8) == ok ]] || missed=1

if [[ -n ${BENCH_PROFILE:-} ]]; then
    say "one more repair under perf record, into $BENCH_PROFILE"
    dir=$WORK/er-profile
    mkdir -p "$dir/drive" "$dir/logs"
    # shellcheck disable=SC2086 # EXPORT_REPAIR_ARGS is split on purpose
    perf record --quiet -F 1999 -g -o "$BENCH_PROFILE" -- "$BIN" repair \
        --repair-file "$dir/drive.rep" --target "$dir/drive" --account "$ACCOUNT" \
        --account-key "$KEY" --blob-endpoint "$ENDPOINT" --copy-log "$WORK/copy.xml" \
        --manifest "$WORK/drive.manifest" --headless --log-dir "$dir/logs" \
        --report "$dir/report.json" ${EXPORT_REPAIR_ARGS:-} >"$dir/stdout" 2>"$dir/stderr" \
        || { say "the profiled repair failed:"; cat "$dir/stdout" "$dir/stderr" >&2; exit 1; }
    check "export-repair (profiled)" "$dir/drive/bench/blob.bin"
    echo "profile: perf report -i $BENCH_PROFILE --no-children --sort dso,sym"
fi
if [[ ${BENCH_STRICT:-0} == 1 && -n $missed ]]; then
    exit 1
fi
