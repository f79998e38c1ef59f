#!/usr/bin/env bash
# Test-machine setup for layerscope (run as root; idempotent).
#
# 1. bookworm packages: docker.io (Docker 20.10 engine + client), skopeo, busybox-static, tmux, zstd, attr,
#    rootlesskit + uidmap (a rootless Docker run by a test user).
# 2. Docker 26 (Debian trixie's docker.io + containerd), unpacked (NOT installed) into
#    /opt/layerscope/docker26, per /work/shared/docs/engine.md. The trixie apt source and pin are
#    temporary and removed on exit, even on failure.
#
# Needs no network except Debian's and npm's registries.
set -euo pipefail

D26=${LAYERSCOPE_DOCKER26_DIR:-/opt/layerscope/docker26}
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l

log() { printf '[setup] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  log "not root: skipping machine setup (engine-backed tests will skip, or fail under LAYERSCOPE_REQUIRE_ENGINE=1)"
  exit 0
fi

t0=$(date +%s)

# ---------------------------------------------------------------------------------------------------------
# 1. bookworm packages
# ---------------------------------------------------------------------------------------------------------
PKGS=(docker.io skopeo busybox-static tmux zstd attr rootlesskit uidmap podman buildah fuse-overlayfs slirp4netns btrfs-progs)
missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  # An unreachable third-party source must not stop us: apt-get install below is the real check.
  apt-get update || log "apt-get update reported errors (continuing; the install decides)"
  apt-get install -y --no-install-recommends "${missing[@]}"
else
  log "bookworm packages already installed: ${PKGS[*]}"
fi

# fuse-overlayfs run by a user (a rootless Docker or podman on it) needs /dev/fuse open to users, as the fuse
# package's udev rule makes it on an ordinary install; machines without udev leave it 0600.
if [ -c /dev/fuse ]; then chmod 0666 /dev/fuse; fi

# The Debian package starts a system dockerd on /var/run/docker.sock; tests never use it (they start
# private engines), so leave it as it is.

# ---------------------------------------------------------------------------------------------------------
# 2. Docker 26 from trixie, unpacked
# ---------------------------------------------------------------------------------------------------------
BUILDX=usr/libexec/docker/cli-plugins/docker-buildx
if [ -x "$D26/usr/sbin/dockerd" ] && [ -x "$D26/usr/bin/containerd" ] && [ -x "$D26/usr/bin/docker" ] && [ -x "$D26/$BUILDX" ]; then
  log "Docker 26 already unpacked in $D26 ($("$D26/usr/sbin/dockerd" --version 2>/dev/null || echo '?'))"
  log "done in $(( $(date +%s) - t0 )) s"
  exit 0
fi

SRC=/etc/apt/sources.list.d/layerscope-trixie.sources
PIN=/etc/apt/preferences.d/layerscope-trixie-low
WORK=$(mktemp -d /tmp/layerscope-docker26.XXXXXX)
chmod 0755 "$WORK"   # lets apt's _apt user write the downloads
cleanup() {
  rm -f "$SRC" "$PIN"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mirror=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1=="deb" && $0 ~ /debian/ && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
fi
mirror=${mirror:-http://deb.debian.org/debian}
log "fetching trixie docker.io + containerd from $mirror"

printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
  "$mirror" >"$SRC"
printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' >"$PIN"

# Refresh only the trixie source (faster, and other sources' failures cannot matter).
mkdir -p "$WORK/empty.d"
apt-get update \
  -o Dir::Etc::sourcelist="$SRC" \
  -o Dir::Etc::sourceparts="$WORK/empty.d" \
  -o APT::Get::List-Cleanup=0

cd "$WORK"
apt-get download -o APT::Sandbox::User=root docker.io/trixie containerd/trixie
# BuildKit (docker buildx) makes the images a Docker 29 host holds: indexes with attestation manifests.
apt-get download -o APT::Sandbox::User=root docker-buildx/trixie || log "docker-buildx/trixie download failed (continuing; BuildKit tests will say so)"
# The trixie docker.io package may not ship the client; docker-cli holds it there when split out.
if apt-cache show docker-cli/trixie >/dev/null 2>&1; then
  apt-get download -o APT::Sandbox::User=root docker-cli/trixie || log "docker-cli/trixie download failed (continuing)"
fi

mkdir -p x
for f in ./*.deb; do dpkg-deb -x "$f" x; done
[ -x x/usr/sbin/dockerd ] || { log "ERROR: no usr/sbin/dockerd in the trixie packages"; exit 1; }
[ -x x/usr/bin/containerd ] || { log "ERROR: no usr/bin/containerd in the trixie packages"; exit 1; }
if [ ! -x x/usr/bin/docker ]; then
  log "ERROR: no docker client in the trixie packages"
  exit 1
fi

# Install atomically: unpack next to the target, then rename.
mkdir -p "$(dirname "$D26")"
rm -rf "$D26.tmp"
mkdir -p "$D26.tmp"
cp -a x/. "$D26.tmp/"
ls ./*.deb >"$D26.tmp/PACKAGES"
rm -rf "$D26"
mv "$D26.tmp" "$D26"

# The trixie lists left in /var/lib/apt/lists are ignored once the source is gone (and cleaned by the
# next full apt-get update).

log "Docker 26 unpacked in $D26: $("$D26/usr/sbin/dockerd" --version 2>/dev/null || echo '?')"
log "done in $(( $(date +%s) - t0 )) s"
