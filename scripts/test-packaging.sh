#!/usr/bin/env bash
# Tests the packaging files (packaging/): always the lint tests (go test
# ./packaging: Dockerfile stages, non-root user, volume and health check;
# the compose file; the systemd unit's sections and keys; the example
# configuration parsed by strand serve's own parser); then, where the tools
# exist, `systemd-analyze verify` on the unit and a docker build and run of
# the image (waiting for its health check), plus `docker compose config`.
# Not part of CI (scripts/test.sh runs the lint tests with everything else).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
tmp=$(mktemp -d)
container=
cleanup() {
	if [ -n "$container" ]; then docker rm -f "$container" >/dev/null 2>&1 || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "==> lint: go test ./packaging"
go test -count=1 ./packaging

if command -v systemd-analyze >/dev/null 2>&1; then
	echo "==> systemd-analyze verify packaging/strand.service"
	CGO_ENABLED=0 go build -o "$tmp/strand" ./cmd/strand
	sed "s|/usr/local/bin/strand|$tmp/strand|" packaging/strand.service >"$tmp/strand.service"
	systemd-analyze verify "$tmp/strand.service"
else
	echo "==> systemd-analyze not found: the unit was linted only"
fi

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
	echo "==> docker build -f packaging/Dockerfile"
	docker build -q -f packaging/Dockerfile --build-arg COMMIT="$(git rev-parse HEAD 2>/dev/null || true)" -t strand:packaging-test "$root"
	docker run --rm strand:packaging-test --version
	container=$(docker run -d -e STRAND_ACCESS_KEY_ID=AKIDEXAMPLE -e STRAND_SECRET_ACCESS_KEY=s3cret strand:packaging-test)
	for _ in $(seq 1 60); do
		status=$(docker inspect -f '{{.State.Health.Status}}' "$container")
		[ "$status" = healthy ] && break
		sleep 1
	done
	if [ "$status" != healthy ]; then
		docker logs "$container" >&2
		echo "the container is $status, not healthy" >&2
		exit 1
	fi
	[ "$(docker exec "$container" id -u)" != 0 ] || { echo "the container runs as root" >&2; exit 1; }
	docker exec "$container" /usr/local/bin/strand health --ready
	echo "    healthy, not root"
	if docker compose version >/dev/null 2>&1; then
		echo "==> docker compose config"
		docker compose -f packaging/compose.yaml config -q
	fi
else
	echo "==> docker not available: the Dockerfile and compose file were linted only"
fi
echo "==> packaging ok"
