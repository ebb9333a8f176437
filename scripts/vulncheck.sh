#!/usr/bin/env bash
# Runs govulncheck. The database at vuln.go.dev may be unreachable (as on the
# build machines), so it is built from golang.org/x/vulndb, which the Go
# module proxy serves: pin a newer VULNDB version to refresh it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
VULN=${VULN:-v1.9.0}
VULNDB=${VULNDB:-v0.0.0-20261105234957-e22db6528018}
cache=${INTELLIDOX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/intellidox}
db=$cache/vulndb-$VULNDB
if [[ ! -f $db/index/db.json ]]; then
  echo "vulncheck: building the vulnerability database from golang.org/x/vulndb@$VULNDB" >&2
  src=$(go mod download -json "golang.org/x/vulndb@$VULNDB" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  rm -rf "$db.tmp" && mkdir -p "$db.tmp"
  (cd "$root" && go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB" -vulns "$src/data/osv" -out "$db.tmp")
  rm -rf "$db" && mv "$db.tmp" "$db"
fi
cd "$root"
go run "golang.org/x/vuln/cmd/govulncheck@$VULN" -db "file://$db" ./...
