#!/usr/bin/env bash
# Finds a daprd, or builds the pinned one from source, and links it at bin/daprd.
# Order: $DAPRD, ~/.dapr/bin/daprd, daprd on PATH, the build cache, a fresh build.
# A fresh build takes about 10 minutes on 2 cores (tools/daprd pins the version).
# It uses -tags allcomponents, like Dapr's release binaries: stablecomponents
# lacks secretstores.aws.secretmanager, which components/aws uses.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=1.18.2
cache=${INTELLIDOX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/intellidox}
tags=allcomponents
built=$cache/daprd-$version-$tags/daprd
mkdir -p "$root/bin"

found=""
for c in "${DAPRD:-}" "$HOME/.dapr/bin/daprd" "$(command -v daprd || true)" "$built"; do
  if [[ -n $c && -x $c ]]; then found=$c; break; fi
done

if [[ -z $found ]]; then
  echo "daprd: none found; building Dapr $version from source into $built (about 10 minutes the first time)" >&2
  mkdir -p "$(dirname "$built")"
  (cd "$root/tools/daprd" && CGO_ENABLED=0 go build -trimpath -tags "$tags" \
    -ldflags "-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$version" \
    -o "$built.tmp" github.com/dapr/dapr/cmd/daprd)
  mv "$built.tmp" "$built"
  found=$built
fi
if [[ "$(readlink -f "$root/bin/daprd" 2>/dev/null)" != "$(readlink -f "$found")" ]]; then
  ln -sf "$found" "$root/bin/daprd"
fi
echo "daprd: $found ($("$found" --version 2>/dev/null || echo unknown))" >&2
