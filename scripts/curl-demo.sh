#!/usr/bin/env bash
# Uploads a file to a running IntelliDox with nothing but curl and coreutils,
# and prints its verdict. Usage: scripts/curl-demo.sh FILE [API]
set -euo pipefail
file=$1
api=${2:-http://127.0.0.1:8080}
key=${INTELLIDOX_API_KEY:-idx_local-development-key-not-for-production}
auth=(-H "Authorization: Bearer $key")
size=$(stat -c %s "$file")
sha=$(sha256sum "$file" | cut -d' ' -f1)
json() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

created=$(curl -sS -X POST "$api/v1/files" "${auth[@]}" -H 'Content-Type: application/json' \
  -d "{\"name\":\"$(basename "$file")\",\"size\":$size,\"sha256\":\"$sha\"}")
id=$(json id <<<"$created")
echo "created $id"
if [[ $created != *'"upload":null'* ]]; then
  url=$(json url <<<"$created" | sed 's/\\u0026/\&/g')
  checksum=$(json x-amz-checksum-sha256 <<<"$created")
  curl -sS --fail-with-body -X PUT -T "$file" -H "x-amz-checksum-sha256: $checksum" "$url"
  echo "uploaded $size bytes"
fi
curl -sS -X POST "$api/v1/files/$id/confirm" "${auth[@]}" >/dev/null
for _ in $(seq 1 300); do
  f=$(curl -sS "${auth[@]}" "$api/v1/files/$id")
  status=$(json status <<<"$f")
  if [[ $status == done || $status == rejected ]]; then
    echo "status: $status, verdict: $(json verdict <<<"$f")"
    exit 0
  fi
  sleep 0.2
done
echo "no verdict after 60 s: $f" >&2
exit 1
