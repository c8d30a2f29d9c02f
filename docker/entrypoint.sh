#!/bin/bash
# The container's main process (under tini): validate the YAML, render Apache's torrentweb snippet
# from it, then run the seeder (as user torrentweb, group www-data) and httpd side by side.
# When either exits, the other is stopped and the container exits with the first one's status;
# `docker stop` (SIGTERM) stops both and exits with the seeder's status (0 on a clean stop).
#   docker run IMAGE                      -> seeder + httpd
#   docker run IMAGE torrentweb status    -> any other command runs instead (status, check-config)
# The variables below have the image's values as defaults; the tests point them elsewhere.
set -euo pipefail
config=${TORRENTWEB_CONFIG:-/etc/torrentweb/torrentweb.yaml}
venv=${TORRENTWEB_VENV:-/opt/torrentweb/.venv}
run_dir=${TORRENTWEB_RUN_DIR:-/run/torrentweb}
user=${TORRENTWEB_USER:-torrentweb}
group=${TORRENTWEB_GROUP:-www-data}
read -r -a httpd <<< "${TORRENTWEB_HTTPD:-apache2ctl -D FOREGROUND}"
say() { echo "torrentweb-entrypoint: $*" >&2; }

if [ "$#" -gt 0 ]; then
  exec "$@"
fi

# A mistake in the YAML stops here, with file:line:col: key: reason (exit 2), before anything runs.
"$venv/bin/torrentweb" check-config -c "$config" >/dev/null || exit $?
state_dir=$("$venv/bin/python" -c \
  'import sys; from torrentweb import config; print(config.load(sys.argv[1]).state_dir)' "$config")
# The state directory: the seeder writes it, Apache's filter (group www-data) reads and writes it.
install -d -o "$user" -g "$group" -m 2770 "$state_dir"
install -d -m 0755 "$run_dir/apache"
"$venv/bin/torrentweb" apache-config -c "$config" > "$run_dir/apache/torrentweb.conf.new"
mv "$run_dir/apache/torrentweb.conf.new" "$run_dir/apache/torrentweb.conf"

requested=0
seeder_pid=
httpd_pid=
stop() {
  for pid in $seeder_pid $httpd_pid; do kill -TERM "$pid" 2>/dev/null || true; done
}
trap 'requested=1; stop' TERM INT

umask 0007   # catalogue, -wal/-shm and torrents stay readable and writable by the group
setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs -- \
  "$venv/bin/torrentweb" seeder -c "$config" &
seeder_pid=$!
umask 0022
"${httpd[@]}" &
httpd_pid=$!
say "seeder pid $seeder_pid, httpd pid $httpd_pid"

set +e
wait -n "$seeder_pid" "$httpd_pid"
first=$?
if [ "$requested" = 0 ]; then
  if kill -0 "$seeder_pid" 2>/dev/null; then
    say "httpd exited with status $first: stopping the seeder"
  else
    say "the seeder exited with status $first: stopping httpd"
  fi
  stop
fi
wait "$seeder_pid"; seeder_status=$?
wait "$httpd_pid"
if [ "$requested" = 1 ]; then   # docker stop: wait -n was interrupted by the signal
  say "stopped"
  exit "$seeder_status"
fi
exit "$first"
