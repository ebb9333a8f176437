# syntax=docker/dockerfile:1
# clamd and freshclam for the scanner-clamav pod, as a non-root user with no
# signatures baked in: freshclam downloads the official databases into a
# volume at start and keeps them current. deploy/base/scanner-clamav.yaml
# mounts the configuration at /etc/clamav and the databases at
# /var/lib/clamav, and runs clamd and freshclam with explicit commands.
#
# Debian trixie ships a supported ClamAV release; rebuild regularly, because
# the official mirrors refuse database downloads to end-of-life engines. The
# upstream image (clamav/clamav-debian) is an alternative: run it with the
# same commands and the same non-root securityContext.
#   docker build -f deploy/docker/clamav.Dockerfile -t <registry>/intellidox/clamav:<tag> .
FROM debian:trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends clamav-daemon clamav-freshclam ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/lib/clamav/* \
 && useradd --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin nonroot
USER 65532:65532
EXPOSE 3310
CMD ["clamd", "--foreground", "--config-file=/etc/clamav/clamd.conf"]
