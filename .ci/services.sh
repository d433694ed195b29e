#!/usr/bin/env bash
# Starts private PostgreSQL and MinIO servers for the test suite on free
# loopback ports under $ROOT (default ./var/test), and writes their
# addresses as shell exports to $ROOT/env. `services.sh stop` stops them.
set -euo pipefail
ROOT=${ROOT:-$(pwd)/var/test}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
MINIO=${MINIO:-$(pwd)/bin/minio}

free_port() { python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()
PY
}

stop() {
  local pgdir
  pgdir=$(cat "$ROOT/pgdir" 2>/dev/null || true)
  if [ -n "$pgdir" ] && [ -f "$pgdir/pg/postmaster.pid" ]; then
    run_pg "$PGBIN/pg_ctl" -D "$pgdir/pg" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "$pgdir" ] && [ "$pgdir" != "$ROOT" ]; then rm -rf "$pgdir"; fi
  if [ -f "$ROOT/minio.pid" ]; then
    kill "$(cat "$ROOT/minio.pid")" 2>/dev/null || true
    rm -f "$ROOT/minio.pid"
  fi
}

# PostgreSQL refuses to run as root: run it as the owner of $ROOT/pg.
run_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ "${1:-start}" = stop ]; then stop; exit 0; fi

[ -x "$PGBIN/initdb" ] || { echo "services: PostgreSQL server binaries not found (install the Debian package postgresql)" >&2; exit 1; }
[ -x "$MINIO" ] || { echo "services: $MINIO not found (make bin/minio builds it)" >&2; exit 1; }

stop
rm -rf "$ROOT"
mkdir -p "$ROOT/minio-data"
# As root, PostgreSQL runs as the postgres user, which may not be able to
# reach a checkout under /root: its files then live in a private /tmp dir.
PGDIR=$ROOT
if [ "$(id -u)" = 0 ]; then PGDIR=$(mktemp -d /tmp/opendems-pg.XXXXXX); chmod 755 "$PGDIR"; fi
echo "$PGDIR" >"$ROOT/pgdir"
mkdir -p "$PGDIR/pg" "$PGDIR/pgsock" "$PGDIR/pglog"
if [ "$(id -u)" = 0 ]; then chown -R postgres "$PGDIR/pg" "$PGDIR/pgsock" "$PGDIR/pglog"; fi

PGPORT=$(free_port)
run_pg "$PGBIN/initdb" -D "$PGDIR/pg" -U postgres -A trust --no-sync -E UTF8 >"$ROOT/initdb.log" 2>&1
run_pg "$PGBIN/pg_ctl" -D "$PGDIR/pg" -l "$PGDIR/pglog/pg.log" -w \
  -o "-p $PGPORT -k $PGDIR/pgsock -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 -c shared_buffers=256MB" start >/dev/null

S3PORT=$(free_port)
MINIO_ROOT_USER=opendemstest MINIO_ROOT_PASSWORD=opendemstest-secret \
  nohup "$MINIO" server --quiet --address "127.0.0.1:$S3PORT" --console-address "127.0.0.1:$(free_port)" "$ROOT/minio-data" >"$ROOT/minio.log" 2>&1 &
echo $! >"$ROOT/minio.pid"
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$S3PORT/minio/health/live" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$S3PORT/minio/health/live" >/dev/null || { echo "services: MinIO did not start; see $ROOT/minio.log" >&2; exit 1; }

cat >"$ROOT/env" <<ENV
export OPENDEMS_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$PGPORT/postgres?sslmode=disable
export OPENDEMS_TEST_S3_ENDPOINT=127.0.0.1:$S3PORT
export OPENDEMS_TEST_S3_ACCESS_KEY=opendemstest
export OPENDEMS_TEST_S3_SECRET_KEY=opendemstest-secret
export OPENDEMS_TEST_REQUIRE_SERVICES=1
export OPENDEMS_TEST_PGBIN=$PGBIN
export OPENDEMS_TEST_MINIO_BIN=$MINIO
ENV
echo "services: PostgreSQL on 127.0.0.1:$PGPORT, MinIO on 127.0.0.1:$S3PORT (env in $ROOT/env)"
