#!/usr/bin/env bash
# Makes a local Debian bookworm base image with mmdebstrap (--variant=minbase) and
# `podman import`, for building deploy/Containerfile where no registry is reachable:
#
#   podman build -f deploy/Containerfile \
#     --build-arg BUILD_IMAGE="$(deploy/container-base.sh)" \
#     --build-arg RUNTIME_IMAGE="$(deploy/container-base.sh)" -t uringrpc-server .
#
# Prints the image's name. Reuses it when it exists (URPC_BASE_REBUILD=1 makes it anew).
# The image's apt sources are the host's Debian mirrors (apt-get indextargets), its apt
# options the host's proxy and Release-date settings; like debian:bookworm-slim, dpkg leaves
# out manuals, docs (but their copyright files) and translations. Merged /usr without the
# usrmerge package (which would pull in perl). Takes about 30 s.
set -euo pipefail

suite=${URPC_BASE_SUITE:-bookworm}
image=${URPC_BASE_IMAGE:-localhost/uringrpc-debian:${suite}-minbase}

if [ "${URPC_BASE_REBUILD:-0}" != 1 ] && podman image exists "$image"; then
  echo "$image"
  exit 0
fi
for tool in mmdebstrap podman; do
  command -v "$tool" >/dev/null || {
    echo "container-base: $tool is missing (URPC_CONTAINER_DEPS=1 deploy/install-deps.sh)" >&2
    exit 1
  }
done

# The host's Debian archive and security mirrors, as apt reaches them here.
host_repo() {
  # shellcheck disable=SC2016 # apt's format, not the shell's
  apt-get indextargets --format '$(REPO_URI)' 'Identifier: Packages' "Label: $1" 2>/dev/null |
    head -n1 | sed 's:/*$::'
}
mirror=${URPC_DEBIAN_MIRROR:-$(host_repo Debian)}
security=${URPC_DEBIAN_SECURITY:-$(host_repo Debian-Security)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${security:-http://deb.debian.org/debian-security}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

aptopts=()
while IFS= read -r line; do
  aptopts+=(--aptopt="$line")
done < <(apt-config dump | grep -E '^Acquire::(https?|ftp)::Proxy|^Acquire::Check-(Valid-Until|Date) ' || true)

echo "container-base: making $image from $mirror ($suite, minbase; about 30 s)" >&2
mmdebstrap --quiet --variant=minbase --format=tar \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  "${aptopts[@]}" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/groff/*' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  "$suite" "$work/rootfs.tar" "$work/debian.sources" >"$work/log" 2>&1 || {
  cat "$work/log" >&2
  echo "container-base: mmdebstrap failed (its output above)" >&2
  exit 1
}
podman import --quiet --change 'CMD ["bash"]' \
  --message "mmdebstrap --variant=minbase $suite" "$work/rootfs.tar" "$image" >/dev/null
echo "$image"
