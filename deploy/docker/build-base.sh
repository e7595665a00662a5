#!/usr/bin/env bash
# Builds a Python 3.11 base image from Debian bookworm packages, for machines that cannot pull
# python:3.11-slim (no registry, an air gap, a mirror of Debian and nothing else). debootstrap
# lays a minimal bookworm into a folder and `docker import` turns the folder into an image.
# Bookworm's python3 is 3.11, the version the lock was resolved for.
#
#   deploy/docker/build-base.sh [TAG]          (default consolidation-base:bookworm)
#
# The Debian mirror is DEBIAN_MIRROR, else the first bookworm mirror in this machine's apt
# sources. Needs root (debootstrap), debootstrap and a running Docker engine.
set -euo pipefail
tag="${1:-consolidation-base:bookworm}"

mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror="$(
    { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
      grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '{print $2}'; } | grep -v -e security -e '^$' | head -n 1 || true
  )"
fi
if [ -z "$mirror" ]; then
  echo "no Debian mirror found in the apt sources: set DEBIAN_MIRROR" >&2
  exit 1
fi

root="$(mktemp -d "${TMPDIR:-/tmp}/consolidation-base.XXXXXX")"
trap 'rm -rf "$root"' EXIT
# minbase: dpkg, apt and essentials only. python3-venv brings ensurepip, which the image's
# virtual environment is made with; libgomp1 is the OpenMP runtime numerical wheels expect.
debootstrap --variant=minbase \
  --include=python3,python3-venv,ca-certificates,libgomp1 \
  bookworm "$root" "$mirror"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
  "$root"/usr/share/man/*
tar --numeric-owner -C "$root" -c . |
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$tag"
docker run --rm "$tag" python3 --version
