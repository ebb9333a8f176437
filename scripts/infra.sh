#!/usr/bin/env bash
# Brings up the local infrastructure IntelliDox needs, idempotently:
# Redis, PostgreSQL, versitygw (S3-compatible), clamd with the project's
# signature set, and the tools the tests use. Everything listens on 127.0.0.1.
#
#   scripts/infra.sh up      install what is missing, start what is not running
#   scripts/infra.sh down    stop what this script started (versitygw, clamd)
#   scripts/infra.sh status
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run=$root/.run
cache=${INTELLIDOX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/intellidox}
mkdir -p "$run" "$cache" "$root/bin"

REDIS_PORT=${REDIS_PORT:-6379}
PG_PORT=${PG_PORT:-5432}
S3_PORT=${S3_PORT:-7070}
CLAMD_PORT=${CLAMD_PORT:-3310}
NATS_PORT=${NATS_PORT:-4222}
S3_ACCESS=${AWS_ACCESS_KEY_ID:-intellidox}
S3_SECRET=${AWS_SECRET_ACCESS_KEY:-intellidox-local-secret}
VERSITYGW_VERSION=v1.8.0
WEB_ORIGINS=${WEB_ORIGINS:-http://127.0.0.1:8080,http://localhost:8080}

say() { printf '\033[1;34minfra:\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33minfra: %s\033[0m\n' "$*" >&2; }
die() { printf '\033[1;31minfra:\033[0m %s\n' "$*" >&2; exit 1; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port what
  for _ in $(seq 1 150); do listening "$1" && return 0; sleep 0.1; done
  die "$2 did not start on 127.0.0.1:$1"
}
sudo_() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }

apt_install() { # packages…
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  sudo_ apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
    { sudo_ apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && sudo_ apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
}

redis_up() {
  if listening "$REDIS_PORT"; then return; fi
  command -v redis-server >/dev/null || apt_install redis-server
  say "starting redis on 127.0.0.1:$REDIS_PORT"
  mkdir -p "$run/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$run/redis" --logfile "$run/redis/redis.log" --pidfile "$run/redis/redis.pid"
  wait_port "$REDIS_PORT" redis
}

postgres_up() {
  if ! listening "$PG_PORT"; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then apt_install postgresql; fi
    say "starting postgresql"
    local v; v=$(ls /etc/postgresql | sort -V | tail -1)
    sudo_ pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
    wait_port "$PG_PORT" postgresql
  fi
  local psql=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAq)
  if ! "${psql[@]}" -c 'select 1' >/dev/null 2>&1; then
    die "postgresql on 127.0.0.1:$PG_PORT refuses user postgres without a password (trust auth is expected locally)"
  fi
  if [[ -z $("${psql[@]}" -c "select 1 from pg_database where datname = 'intellidox'") ]]; then
    say "creating database intellidox"
    "${psql[@]}" -c 'create database intellidox' >/dev/null
  fi
}

versitygw_bin() {
  local bin=$cache/versitygw-$VERSITYGW_VERSION/versitygw
  if [[ ! -x $bin ]]; then
    say "building versitygw $VERSITYGW_VERSION (about 4 minutes the first time)"
    GOBIN=$(dirname "$bin") go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  fi
  ln -sf "$bin" "$root/bin/versitygw"
}

# NATS with JetStream keeps versitygw's storage events (objects created in
# protected buckets) for the api's storage component
# (docs/storage-events.md); Dapr does not create the stream, devtool does.
nats_up() {
  command -v nats-server >/dev/null || apt_install nats-server
  if ! listening "$NATS_PORT"; then
    say "starting nats-server (JetStream) on 127.0.0.1:$NATS_PORT"
    mkdir -p "$run/nats"
    nohup nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$run/nats" >"$run/nats/nats.log" 2>&1 &
    echo $! >"$run/nats/nats.pid"
    wait_port "$NATS_PORT" nats-server
  fi
  (cd "$root" && go run ./cmd/devtool stream -nats "127.0.0.1:$NATS_PORT")
}

versitygw_up() {
  versitygw_bin
  if ! listening "$S3_PORT"; then
    say "starting versitygw on 127.0.0.1:$S3_PORT (storage events to nats subject storage-events)"
    mkdir -p "$run/s3/data"
    ROOT_ACCESS_KEY=$S3_ACCESS ROOT_SECRET_KEY=$S3_SECRET nohup "$root/bin/versitygw" \
      --port "127.0.0.1:$S3_PORT" --keep-alive --quiet \
      --event-nats-url "nats://127.0.0.1:$NATS_PORT" --event-nats-topic storage-events \
      --event-filter "$root/components/local/versitygw-events.json" posix "$run/s3/data" \
      >"$run/s3/versitygw.log" 2>&1 &
    echo $! >"$run/s3/versitygw.pid"
    wait_port "$S3_PORT" versitygw
  fi
  (cd "$root" && go run ./cmd/devtool bucket -endpoint "http://127.0.0.1:$S3_PORT" \
    -bucket "${S3_BUCKET:-intellidox}" -cors "$WEB_ORIGINS" &&
    go run ./cmd/devtool bucket -endpoint "http://127.0.0.1:$S3_PORT" -bucket protected)
}

clamd_conf() { # port dir → writes dir/clamd.conf
  mkdir -p "$2"
  cat >"$2/clamd.conf" <<CONF
# Generated by scripts/infra.sh. The signature set is the project's own
# (clamav/db); production uses freshclam's official databases instead.
TCPSocket $1
TCPAddr 127.0.0.1
DatabaseDirectory $root/clamav/db
LogFile $2/clamd.log
PidFile $2/clamd.pid
Foreground no
StreamMaxLength ${CLAMD_STREAM_MAX:-1000M}
MaxScanSize ${CLAMD_STREAM_MAX:-1000M}
MaxFileSize ${CLAMD_STREAM_MAX:-1000M}
# Say so when a limit or encryption kept content from being scanned, instead
# of answering OK for bytes clamd never looked at (the scanner reports these
# as skipped, with the reason).
AlertExceedsMax yes
AlertEncrypted yes
MaxThreads 8
ReadTimeout 120
CONF
}

clamd_up() {
  command -v clamd >/dev/null || apt_install clamav-daemon clamav
  if listening "$CLAMD_PORT"; then return; fi
  say "starting clamd on 127.0.0.1:$CLAMD_PORT with the project signature set"
  clamd_conf "$CLAMD_PORT" "$run/clamd"
  clamd -c "$run/clamd/clamd.conf"
  wait_port "$CLAMD_PORT" clamd
}

tools_up() {
  # yara for the scanner; chromium for the browser tests; poppler-utils,
  # exiftool, 7z and osslsigncode for the extractor's cross-checks; qpdf
  # for the yara views' (PDF object streams written by a real tool); wrk
  # for make bench.
  apt_install yara chromium poppler-utils libimage-exiftool-perl p7zip-full osslsigncode qpdf wrk \
    libyara-dev golang-github-hillu-go-yara-dev
  command -v node >/dev/null || apt_install nodejs npm
  yara_helper_up
  "$root/scripts/daprd.sh"
  moto_check
}

# The yara scanner's helper (tools/yara-helper): libyara through cgo and
# Debian's go-yara source, which the module proxy does not serve, so it is
# a module of its own, built here rather than by make build.
yara_helper_up() {
  say "building bin/yara-helper (libyara, cgo)"
  (cd "$root/tools/yara-helper" && CGO_ENABLED=1 go build -trimpath -o "$root/bin/yara-helper.tmp" .)
  mv "$root/bin/yara-helper.tmp" "$root/bin/yara-helper"
}

# moto (the AWS emulator of the AWS test profile) is a Python package, and
# PyPI is not reachable from the machines this project runs on: it comes
# with the machine image or not at all. Say which, instead of failing later.
moto_check() {
  local moto=${MOTO_SERVER:-$(command -v moto_server || true)}
  if [[ -n $moto ]]; then
    say "moto_server: $moto (from the machine image; this script cannot install it)"
    return
  fi
  local hint=""
  for p in "$HOME/.pyenv/shims/moto_server" /usr/local/bin/moto_server; do
    [[ -x $p ]] && hint=" It exists at $p: put $(dirname "$p") on PATH, or set MOTO_SERVER=$p."
  done
  warn "CANNOT INSTALL moto_server: it is a PyPI package and PyPI is not reachable here (pip install 'moto[server]' where it is).$hint" \
    "Without it make test SKIPS the AWS profile (components/aws), and with CI=true that fails the run."
}

# The key that seals archive password lists (docs/security.md), for the
# local secret store components/local/secrets.yaml reads. Made once per
# checkout, never committed: a new one makes lists sealed before unreadable.
secrets_up() {
  local f=$root/components/local/secrets.json
  [[ -s $f ]] && return
  say "making the archive password key: components/local/secrets.json"
  local key
  key=$(head -c 32 /dev/urandom | base64 -w0)
  (umask 077 && printf '{"intellidox/archive-passwords-key": "%s"}\n' "$key" >"$f.tmp")
  mv "$f.tmp" "$f"
}

up() {
  secrets_up
  redis_up
  postgres_up
  nats_up
  versitygw_up
  clamd_up
  tools_up
  say "ready: redis :$REDIS_PORT, postgresql :$PG_PORT, nats :$NATS_PORT, s3 :$S3_PORT, clamd :$CLAMD_PORT (all on 127.0.0.1)"
}

down() {
  for pidfile in "$run/s3/versitygw.pid" "$run/clamd/clamd.pid" "$run/nats/nats.pid"; do
    [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null && say "stopped $(basename "$pidfile" .pid)"
    rm -f "$pidfile"
  done
}

status() {
  for s in "redis $REDIS_PORT" "postgresql $PG_PORT" "nats $NATS_PORT" "versitygw $S3_PORT" "clamd $CLAMD_PORT"; do
    set -- $s
    if listening "$2"; then echo "$1: up on 127.0.0.1:$2"; else echo "$1: down"; fi
  done
}

case ${1:-up} in
  up) up ;;
  down) down ;;
  status) status ;;
  clamd-conf) clamd_conf "$2" "$3" ;;
  *) die "usage: $0 up|down|status" ;;
esac
