#!/usr/bin/env bash
# Runs Strand's whole test suite; the single entry point for developers and CI
# (.ci/run execs it). Works from any directory on a Debian machine with Go and
# Node.js, installing what the tests need when it is missing:
#   - Debian's awscli and python3-boto3 (/usr/bin/aws, /usr/bin/python3 with
#     boto3): the pyenv `aws`/`python3` on PATH are too new to know QLDB.
#   - the Kinesis emulators kinesalite and kinesis-local, pinned by
#     tools/kinesis/package-lock.json (npm ci into tools/kinesis/node_modules).
#   - the S3-compatible server s3rver, pinned by tools/s3/package-lock.json
#     (npm ci into tools/s3/node_modules), for the journal export tests.
#   - Debian's postgresql (initdb, pg_ctl), for a private PostgreSQL cluster
#     that scripts/test-postgres.sh starts in a temporary directory on a free
#     loopback port for the run and removes at exit; its URL is exported as
#     STRAND_TEST_POSTGRES_URL (unless already set: then that server is used).
# Then runs `go test -race -vet=all ./...` (every go vet check, on the same
# build as the tests: a separate `go vet` would compile every dependency once
# more), and exits non-zero if it fails. With no package arguments (the whole
# suite, as CI runs it) it then runs the end-to-end packages (internal/e2e,
# cmd/strand) once more with STRAND_TEST_STORE=postgres, every node they
# start on PostgreSQL instead of the embedded store (-race again: its build is
# already in the cache); all the while, at the lowest CPU priority, the fuzz
# targets listed in the "Fuzz" section run for a fixed number of executions
# each, their output shown after the tests'.
# STRAND_TEST_STORE=postgres in the environment runs the ordinary pass that
# way too.
#
# Environment: GO_TEST_FLAGS adds flags to go test (e.g. GO_TEST_FLAGS=-v,
# or -run=Kinesis); a package pattern may follow as arguments (default ./...).
# FUZZ_TIME=30s (or 100000x) overrides every fuzz target's budget,
# FUZZ_TIME=0 skips them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
start=$SECONDS

section() { printf '\n==> %s\n' "$*"; }
elapsed() { printf '    (%ds)\n' $((SECONDS - ${1:-$start})); }

logdir=$(mktemp -d)
pg_dir=
cleanup() {
	if [ -n "$pg_dir" ]; then
		"$root/scripts/test-postgres.sh" stop "$pg_dir" || true
	fi
	rm -rf "$logdir"
}
trap cleanup EXIT

# run_quiet LOGNAME CMD...: runs CMD with its output in a log, shown only on failure.
run_quiet() {
	local log="$logdir/$1"
	shift
	if ! "$@" >"$log" 2>&1; then
		echo "FAILED: $*" >&2
		tail -n 60 "$log" >&2
		return 1
	fi
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "need root to run: $*" >&2
		return 1
	fi
}

section "Tools"
for tool in go node npm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "error: $tool is not on PATH; this script needs Go and Node.js (with npm)." >&2
		exit 1
	fi
done
echo "    $(go version)"
echo "    node $(node --version), npm $(npm --version)"

section "Debian packages: awscli, python3-boto3"
t=$SECONDS
if /usr/bin/aws --version >/dev/null 2>&1 && /usr/bin/python3 -c 'import boto3' >/dev/null 2>&1; then
	echo "    already installed: $(/usr/bin/aws --version 2>&1)"
elif ! command -v apt-get >/dev/null 2>&1; then
	echo "    warning: no apt-get; tests that need /usr/bin/aws or boto3 may fail" >&2
else
	echo "    installing with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	if run_quiet apt-update.log as_root apt-get update -q &&
		run_quiet apt-install.log as_root env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends awscli python3-boto3; then
		echo "    installed: $(/usr/bin/aws --version 2>&1)"
	else
		echo "    warning: could not install awscli/python3-boto3; tests that need them may fail" >&2
	fi
fi
elapsed "$t"

section "npm packages: tools/kinesis (kinesalite, kinesis-local)"
t=$SECONDS
kdir=$root/tools/kinesis
stamp=$kdir/node_modules/.strand-lock.sha256
want=$(sha256sum "$kdir/package-lock.json" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
	[ -f "$kdir/node_modules/kinesalite/index.js" ] && [ -f "$kdir/node_modules/kinesis-local/main.js" ]; then
	echo "    up to date"
else
	echo "    npm ci"
	(cd "$kdir" && run_quiet npm-ci.log npm ci --no-audit --no-fund --loglevel=error)
	echo "$want" >"$stamp"
	echo "    installed: $(cd "$kdir" && npm ls --depth=0 2>/dev/null | sed -n 's/.*── //p' | tr '\n' ' ')"
fi
elapsed "$t"

section "npm packages: tools/s3 (s3rver)"
t=$SECONDS
sdir=$root/tools/s3
stamp=$sdir/node_modules/.strand-lock.sha256
want=$(sha256sum "$sdir/package-lock.json" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$sdir/node_modules/s3rver/bin/s3rver.js" ]; then
	echo "    up to date"
else
	echo "    npm ci"
	(cd "$sdir" && run_quiet npm-ci-s3.log npm ci --no-audit --no-fund --loglevel=error)
	echo "$want" >"$stamp"
	echo "    installed: $(cd "$sdir" && npm ls --depth=0 2>/dev/null | sed -n 's/.*── //p' | tr '\n' ' ')"
fi
elapsed "$t"

section "PostgreSQL: a private cluster for the store tests"
t=$SECONDS
if [ -n "${STRAND_TEST_POSTGRES_URL:-}" ]; then
	echo "    using STRAND_TEST_POSTGRES_URL from the environment"
else
	if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
		if ! command -v apt-get >/dev/null 2>&1; then
			echo "    warning: no apt-get and no PostgreSQL; tests that need it skip (fail under CI)" >&2
		else
			echo "    installing postgresql with apt-get"
			if run_quiet pg-apt-update.log as_root apt-get update -q &&
				run_quiet pg-apt-install.log as_root env DEBIAN_FRONTEND=noninteractive \
					apt-get install -y -q --no-install-recommends postgresql; then
				echo "    installed: $(compgen -G '/usr/lib/postgresql/*/bin/initdb' | tail -n 1)"
			else
				echo "    warning: could not install postgresql; tests that need it skip (fail under CI)" >&2
			fi
		fi
	fi
	if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
		pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/strand-pg.XXXXXX")
		if url=$("$root/scripts/test-postgres.sh" start "$pg_dir"); then
			export STRAND_TEST_POSTGRES_URL=$url
			echo "    $url"
		else
			echo "    warning: the private PostgreSQL cluster did not start; tests that need it skip (fail under CI)" >&2
		fi
	fi
fi
elapsed "$t"

# The tests run with no AWS_* settings from the caller's environment (such as
# AWS_CA_BUNDLE, which breaks config.LoadDefaultConfig with a custom
# *http.Client, or AWS_PROFILE/AWS_REGION), so results do not depend on the
# machine. IMDS is disabled so that nothing ever tries the instance metadata
# address: tests may only reach loopback.
test_env=(env)
while IFS= read -r name; do
	test_env+=(-u "$name")
done < <(compgen -e | grep '^AWS_' || true)
test_env+=(AWS_EC2_METADATA_DISABLED=true AWS_PAGER= AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null)

pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

# Fuzz: bounded runs of the fuzz targets, one line per target (package,
# target name, executions). Only for the whole suite; a failing input is
# written under the package's testdata/fuzz/ and fails the run. The budgets
# are execution counts, not durations: with Go 1.26 a duration budget can
# fail at its deadline with a bare "context deadline exceeded" and no
# failing input (a race in Go's fuzzing coordinator, go.dev/issue/75804,
# fixed in Go 1.27); a count has no deadline to race.
# A long run by hand, one target at a time (-timeout 0: go test's default
# 10-minute timeout also ends a fuzzing run):
#   go test -timeout 0 -run '^$' -fuzz '^FuzzParse$' -fuzztime 10000000x ./internal/partiql
# A failing input it writes under testdata/fuzz/ is kept as a regression seed.
fuzz_targets=(
	# Ion decoding, text and binary: no panic, no stack overflow, depth limit.
	"./internal/ionvalue FuzzDecode 80000x"
	# Strand's binary decoder against ion-go's reader: identical values, and
	# errors exactly when the reader errs.
	"./internal/ionvalue FuzzDecodeBinary 100000x"
	# The HTTP front's request decoding: SigV4 headers, the rest-json control
	# plane, the awsJson1_0 session API (every answer a 200 or an AWS error).
	"./internal/api/sigv4 FuzzSigV4Headers 20000x"
	"./internal/api FuzzControlRequest 10000x"
	"./internal/api FuzzSendCommand 4000x"
	# The session fast paths against the general ones: the reflection-free
	# SendCommand decoder and encoder against encoding/json, the direct
	# SigV4 check against the SDK's signer.
	"./internal/api/sessionwire FuzzParse 10000x"
	"./internal/api/sessionwire FuzzAppend 10000x"
	"./internal/api/sigv4 FuzzFastSignature 5000x"
	# PartiQL: every parse error a positioned *Error; whatever parses runs
	# against a small in-memory ledger without an internal error.
	"./internal/partiql FuzzParse 10000x"
	"./internal/partiql FuzzExecute 4000x"
	# Ion parameters as ExecuteStatement hashes and decodes them (deep and
	# wide seeds): HashIonValue agrees with ion-hash-go or both refuse.
	"./internal/qldbhash FuzzHashIonMatchesReference 2000x"
	# NextToken: round trip, QLDB's pattern, no token accepted for another
	# scope, ErrInvalid for the rest.
	"./internal/pagetoken FuzzRoundTrip 15000x"
	# Stream records: decode/encode round trips both ways.
	"./internal/stream/record FuzzDecodeRoundTrip 8000x"
	"./internal/stream/record FuzzEncodeRoundTrip 2000x"
	# IAM-style policies: no panic on any file; what parses evaluates.
	"./internal/policy FuzzParsePolicy 15000x"
)
# run_fuzz runs every target in turn and records its status in fuzz.status.
# It starts with the first test pass, at the lowest CPU priority: it builds
# and fuzzes on what the tests leave idle (they wait on sockets, child
# processes and PostgreSQL much of the time) and takes little they need;
# its output is shown after the tests'.
run_fuzz() {
	local status=0 target pkg name budget t
	for target in "${fuzz_targets[@]}"; do
		read -r pkg name budget <<<"$target"
		budget=${FUZZ_TIME:-$budget}
		section "go test -run '^\$' -fuzz '^$name\$' -fuzztime $budget $pkg"
		t=$SECONDS
		"${test_env[@]}" go test -run '^$' -fuzz "^$name\$" -fuzztime "$budget" "$pkg" || status=$?
		elapsed "$t"
	done
	echo "$status" >"$logdir/fuzz.status"
}
fuzz_status=0
fuzz_pid=
if [ $# -eq 0 ] && [ "${FUZZ_TIME:-}" != 0 ]; then
	(renice -n 19 -p "$BASHPID" >/dev/null 2>&1 || true; run_fuzz) >"$logdir/fuzz.log" 2>&1 &
	fuzz_pid=$!
fi

section "go test -race -vet=all -count=1 -timeout 15m ${GO_TEST_FLAGS:-}${GO_TEST_FLAGS:+ }${pkgs[*]}"
t=$SECONDS
test_status=0
# shellcheck disable=SC2086 # GO_TEST_FLAGS is a list of flags
"${test_env[@]}" go test -race -vet=all -count=1 -timeout 15m ${GO_TEST_FLAGS:-} "${pkgs[@]}" || test_status=$?
elapsed "$t"

# The end-to-end packages once more on PostgreSQL (servertest starts every
# node on a fresh database). Only for the whole suite; with -race, whose
# build the first pass left in the cache (without it every dependency would
# be compiled again), and without vet, which the first pass ran.
pg_pkgs=(./internal/e2e ./cmd/strand)
pg_status=0
if [ $# -eq 0 ] && [ -n "${STRAND_TEST_POSTGRES_URL:-}" ]; then
	section "STRAND_TEST_STORE=postgres go test -race -vet=off -count=1 -timeout 15m ${GO_TEST_FLAGS:-}${GO_TEST_FLAGS:+ }${pg_pkgs[*]}"
	t=$SECONDS
	# shellcheck disable=SC2086 # GO_TEST_FLAGS is a list of flags
	# Skipped here: the cluster tests (they run on PostgreSQL in the first
	# pass already), and tests whose subject does not touch the store
	# (PartiQL conformance and its benchmark, the shell, stream tail, the
	# bench smoke test, the policy matrix and reload, the AWS CLI and boto3
	# wire tests), which the first pass runs in full.
	pg_skip='TestCluster|TestThreeNodes|TestConformanceDriver|TestPartiQLBench|TestShell|TestStreamTail|TestBenchSmoke|TestPolicyReload|TestStandardModeActionMatrix|TestAWSCLI|TestStreamBoto3AndCLI'
	"${test_env[@]}" STRAND_TEST_STORE=postgres go test -race -vet=off -count=1 -timeout 15m -skip "$pg_skip" ${GO_TEST_FLAGS:-} "${pg_pkgs[@]}" || pg_status=$?
	elapsed "$t"
fi

if [ -n "$fuzz_pid" ]; then
	wait "$fuzz_pid" || true
	cat "$logdir/fuzz.log"
	fuzz_status=$(cat "$logdir/fuzz.status" 2>/dev/null || echo 1)
fi

section "Summary"
echo "    go test: $([ "$test_status" -eq 0 ] && echo ok || echo "FAILED ($test_status)")"
echo "    go test on PostgreSQL: $([ "$pg_status" -eq 0 ] && echo ok || echo "FAILED ($pg_status)")"
echo "    fuzz: $([ "$fuzz_status" -eq 0 ] && echo ok || echo "FAILED ($fuzz_status)")"
echo "    total: $((SECONDS - start))s"
if [ "$test_status" -ne 0 ]; then
	exit "$test_status"
fi
if [ "$pg_status" -ne 0 ]; then
	exit "$pg_status"
fi
exit "$fuzz_status"
