#!/bin/sh
# nginx.sh - starts or stops the test web server of the HTTP tests and benchmark.
#   tests/http/nginx.sh start DIR ROOT   serve ROOT from a free port on 127.0.0.1; state in DIR;
#                                        prints the port (also in DIR/port)
#   tests/http/nginx.sh stop DIR         fast shutdown (connections cut), waits until gone
#   tests/http/nginx.sh restart DIR ROOT the same port again
# The config is tests/http/nginx.conf.in; every path nginx writes lies under DIR. NGINX_RATE
# (e.g. 50m) caps each connection of the /capped/ location (the benchmark's object store).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
cmd=${1:-}; dir=${2:-}
case $cmd in start|stop|restart) ;; *) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;; esac
[ -n "$dir" ] || { echo "nginx.sh: no state folder" >&2; exit 2; }
mkdir -p "$dir"

up() { # $1 = port
	sed -e "s|@ROOT@|$root|g" -e "s|@PORT@|$1|g" -e "s|@DIR@|$dir|g" -e "s|@USER@|$(id -un)|g" \
		-e "s|@RATE@|${NGINX_RATE:-0}|g" \
		"$HERE/nginx.conf.in" >"$dir/nginx.conf"
	"$NGINX" -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" 2>>"$dir/start.log" || return 1
	for _ in $(seq 50); do
		curl -s -o /dev/null "http://127.0.0.1:$1/fail503/" && return 0
		sleep 0.1
	done
	return 1
}

down() {
	[ -f "$dir/nginx.pid" ] || return 0
	pid=$(cat "$dir/nginx.pid")
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	rm -f "$dir/nginx.pid"
}

case $cmd in
start)
	root=$(cd "${3:?nginx.sh start DIR ROOT}" && pwd)
	echo "$root" >"$dir/root"
	for _ in 1 2 3 4 5 6 7 8; do
		port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 30000 ))
		if up "$port"; then echo "$port" >"$dir/port"; echo "$port"; exit 0; fi
		down
	done
	echo "nginx.sh: nginx would not start; see $dir/error.log $dir/start.log" >&2
	exit 1 ;;
restart)
	root=$(cat "$dir/root"); port=$(cat "$dir/port")
	down
	up "$port" || { echo "nginx.sh: restart on port $port failed" >&2; exit 1; }
	echo "$port" ;;
stop)
	down ;;
esac
