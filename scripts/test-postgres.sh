#!/usr/bin/env bash
# Starts and stops a private PostgreSQL cluster for Strand's tests: a fresh
# data directory under DIR, listening on 127.0.0.1:PORT (a free port) and on
# a unix socket in DIR, trust authentication on loopback only, fsync off (a
# test cluster holds nothing worth keeping; the durability point under test
# is PostgreSQL's COMMIT, not the disk). scripts/test.sh uses it; developers
# may too:
#
#   scripts/test-postgres.sh start DIR   # prints the maintenance database URL
#   scripts/test-postgres.sh stop DIR    # stops the cluster and removes DIR
#
# The URL (postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable) is
# what STRAND_TEST_POSTGRES_URL takes. Needs Debian's PostgreSQL binaries
# (/usr/lib/postgresql/<version>/bin, package postgresql). initdb refuses to
# run as root, so as root the cluster runs as the postgres user (the package
# creates it) and DIR is handed to that user.
set -euo pipefail

pgbin() {
	local d found=
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && found=$d
	done
	[ -n "$found" ] || { echo "test-postgres: no /usr/lib/postgresql/*/bin/initdb (install Debian's postgresql package)" >&2; return 1; }
	echo "$found"
}

# as_owner CMD...: runs CMD as the cluster's owner.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "${1:-}" in
start)
	dir=${2:?usage: test-postgres.sh start DIR}
	bin=$(pgbin)
	mkdir -p "$dir"
	[ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
	as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	# A port can be taken between free_port and the start: try a few.
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off -c max_connections=400 -c shared_buffers=64MB" >/dev/null; then
			echo "$port" >"$dir/port"
			echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			exit 0
		fi
	done
	tail -n 20 "$dir/server.log" >&2
	exit 1
	;;
stop)
	dir=${2:?usage: test-postgres.sh stop DIR}
	if [ -f "$dir/data/postmaster.pid" ]; then
		bin=$(pgbin)
		as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	;;
*)
	echo "usage: $0 start|stop DIR" >&2
	exit 2
	;;
esac
