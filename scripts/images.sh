#!/usr/bin/env bash
# `make images`: every image of deploy/images.yaml, without a Docker daemon.
#   1. the Debian userland base (clamav, yara, redis, postgresql, nats,
#      nodejs and the nonroot user 65532), once per package list, with
#      mmdebstrap from Debian's mirror;
#   2. the binaries the images carry: the apps (go build), the cluster's
#      (scripts/k8s-build.sh, cached) and versitygw (go install, cached);
#   3. cmd/images: buildah (vfs, a private storage root), one docker-archive
#      per image under ~/.cache/intellidox/images, rebuilt only when its
#      inputs changed.
# Needs root (buildah vfs, mmdebstrap); installs buildah and mmdebstrap if missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${INTELLIDOX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/intellidox}
out=$cache/images
mkdir -p "$out"
say() { printf '\033[1;34mimages:\033[0m %s\n' "$*" >&2; }

# shellcheck source=scripts/apt.sh
. "$root/scripts/apt.sh"
apt_install buildah mmdebstrap

# The packages of the userland; its file is named by their hash, so that a
# change to the list builds it again.
packages=ca-certificates,tzdata,clamav-daemon,clamav-freshclam,yara,redis-server,postgresql-15,nats-server,nodejs
debian=$out/debian-userland-$(printf %s "$packages" | sha256sum | cut -c1-12).tar
if [[ ! -s $debian ]]; then
  say "building the Debian bookworm userland with mmdebstrap (a few minutes, once)"
  start=$SECONDS
  nice mmdebstrap --quiet --variant=essential --format=tar \
    --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook='chroot "$1" groupadd --gid 65532 nonroot' \
    --customize-hook='chroot "$1" useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin nonroot' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "$debian.tmp" http://deb.debian.org/debian \
    "deb http://deb.debian.org/debian-security bookworm-security main"
  mv "$debian.tmp" "$debian"
  find "$out" -maxdepth 1 -name 'debian-userland*.tar' ! -samefile "$debian" -delete
  say "Debian userland in $((SECONDS - start)) s ($(du -h "$debian" | cut -f1))"
fi

# The apps' web bundle goes into the api image. A fresh clone has none: it
# is built once per content of web/ (tracked files, changes and untracked
# files alike) and kept in the cache, as the images are.
if [[ ! -f $root/web/dist/index.html ]]; then
  key=$( { git -C "$root" ls-files -s -- web; git -C "$root" diff HEAD -- web
           git -C "$root" ls-files -o --exclude-standard -z -- web | xargs -0 -r -I{} sha256sum "$root/{}"; } | sha256sum | cut -c1-16)
  if [[ -f $cache/web-dist/$key/index.html ]]; then
    say "web app (web/dist) from the cache ($key)"
    cp -a "$cache/web-dist/$key" "$root/web/dist"
  else
    say "building the web app (web/dist)"
    make -C "$root" --no-print-directory web >&2
    rm -rf "$cache/web-dist" && mkdir -p "$cache/web-dist" && cp -a "$root/web/dist" "$cache/web-dist/$key"
  fi
fi
"$root/scripts/k8s-build.sh" daprd operator sentry injector placement scheduler coredns pause

say "building images (buildah, vfs)"
cd "$root"
exec go run ./cmd/images -debian-rootfs "$debian" -out "$out" "$@"
