#!/usr/bin/env bash
# Starts a local Kinesis emulator for journal streams and creates the
# destination stream(s), in one command:
#
#   scripts/kinesis-emulator.sh [PORT [STREAM[:SHARDS] ...]]
#
# PORT defaults to 4567 and the streams to "journal" with one shard. The
# emulator is kinesalite, pinned by tools/kinesis/package-lock.json and run
# through tools/kinesis/serve.js, which listens on 127.0.0.1 only and keeps
# its data in memory. The npm packages are installed (npm ci) when missing.
# It runs in the background: the script returns once the streams exist,
# printing the endpoint and the process id; stop it with `kill PID`. Its
# output goes to ${TMPDIR:-/tmp}/strand-kinesis-PORT.log.
#
# Point Strand at it with --kinesis-endpoint http://127.0.0.1:PORT; the
# destination ARN of a stream named journal is
# arn:aws:kinesis:us-east-1:000000000000:stream/journal.
set -euo pipefail

port=${1:-4567}
shift || true
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=(journal:1)

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kdir=$root/tools/kinesis
for tool in node npm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "kinesis-emulator: $tool is not on PATH; install Node.js (with npm)" >&2
		exit 1
	fi
done
if [ ! -f "$kdir/node_modules/kinesalite/index.js" ]; then
	echo "kinesis-emulator: installing tools/kinesis (npm ci)" >&2
	(cd "$kdir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

log=${TMPDIR:-/tmp}/strand-kinesis-$port.log
streams=$(
	IFS=,
	echo "${specs[*]}"
)
INITIALIZE_STREAMS=$streams nohup node "$kdir/serve.js" "$port" >"$log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 150); do
	if grep -q '^Listening at' "$log" 2>/dev/null; then
		echo "kinesis emulator (kinesalite) listening at http://127.0.0.1:$port with stream(s) $streams; pid $pid (stop it with: kill $pid)"
		exit 0
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "kinesis-emulator: the emulator exited; its output ($log):" >&2
		cat "$log" >&2
		exit 1
	fi
	sleep 0.2
done
echo "kinesis-emulator: no answer after 30 s; its output is in $log" >&2
kill "$pid" 2>/dev/null || true
exit 1
