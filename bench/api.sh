#!/bin/sh
# Runs bench/api against a fresh lepton-server (SQLite, own data dir, free
# port on loopback) and removes it afterwards.
set -eu
cd "$(dirname "$0")/.."
make -s build/lepton-server build/bench-api
dir="$(mktemp -d /tmp/lepton-bench.XXXXXX)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
printf 'quota_port = -1\n%s\n' "${BENCH_CONFIG_EXTRA:-}" > "$dir/bench.conf"
build/lepton-server --listen "127.0.0.1:$port" --data-dir "$dir" --config "$dir/bench.conf" \
	>"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do
	python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null && break
	sleep 0.1
done
build/bench-api "http://127.0.0.1:$port" "${THREADS:-4}" "${PORTS:-5000}"
