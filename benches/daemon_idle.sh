#!/usr/bin/env bash
# Benchmark: the daemon's CPU while idle. The example fleet, with its
# addresses moved to unused loopback addresses (127.N.200.x: nothing
# listens, and with every window closed nothing is contacted at all), is
# watched by `patchwave daemon` polling every INTERVAL for SECONDS; the
# daemon's own CPU time (utime + stime from /proc/<pid>/stat) is scaled to
# one hour. Prints a table.
#
#   bash benches/daemon_idle.sh [SECONDS] [INTERVAL]     (defaults: 180 30s)
#
# The windows of the example fleet are closed most of the time; the script
# refuses to measure while one of its groups has an open window (the daemon
# would then scan, which is not idling).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-180}
interval=${2:-30s}
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
bin=target/release/patchwave
work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
cp -r examples/fleet "$work/fleet"
# Loopback addresses nobody uses, and no signature requirement (a copy is
# not a signed checkout).
find "$work/fleet" -name '*.yaml' -print0 | xargs -0 sed -i -E \
    -e 's/10\.20\.([0-9]+)\.([0-9]+)/127.\1.200.\2/' \
    -e 's/requireSignedCommits: true/requireSignedCommits: false/'
if "$bin" windows --repo "$work/fleet" --format json --count 1 | grep -q '"state": *"open"'; then
    echo "a window of the example fleet is open now; run this when none is" >&2
    exit 1
fi
port=$(( 20000 + RANDOM % 20000 ))
"$bin" daemon --repo "$work/fleet" --state-dir "$work/state" --interval "$interval" \
    --listen "127.0.0.1:$port" >"$work/out.log" 2>"$work/err.log" &
pid=$!
sleep 3
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
start=$(cpu)
sleep "$seconds"
end=$(cpu)
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
polls=$(( seconds / ${interval%s} ))
per_hour=$(awk -v d=$(( end - start )) -v t="$ticks" -v s="$seconds" 'BEGIN { printf "%.2f", d / t * 3600 / s }')
# A host the daemon tried to scan shows as "unreachable" (nothing listens there).
ssh_lines=$(grep -c 'unreachable, not patched\|scan failed' "$work/out.log" || true)
printf '| measured | polls (every %s) | CPU over it | CPU per hour | peak RSS | hosts contacted |\n' "$interval"
printf '| --- | --- | --- | --- | --- | --- |\n'
printf '| %ss | %s | %s ticks (1/%s s) | %s s | %s KiB | %s |\n' "$seconds" "$polls" "$(( end - start ))" "$ticks" "$per_hour" "$rss" "$ssh_lines"
