#!/bin/sh
# What the engine itself does with the crafted archives of archive-substitution.test.ts and
# tar-divergence.test.ts: load each into a private Docker 26 engine (overlay2, classic store, the default up to
# Docker 28) and show the /etc files of a container created from it. Not a test (it needs an engine and root);
# run by hand:   sh test/attack/engine-confirm.sh DIR-WITH-ARCHIVES
# where DIR holds swap.tar, gdup.tar, t1.tar, t2.tar, t3.tar: `node --import tsx test/attack/crafted.ts DIR`.
# Expected output: every case shows the attacker's file (/etc/cron.d/evil, or "evil::0:0" in
# /etc/passwd), which layerscope does not show.
set -eu
A=${1:?directory holding the archives}
D26=${LAYERSCOPE_DOCKER26_DIR:-/opt/layerscope/docker26}
T=$(mktemp -d)
PATH=$D26/usr/bin:$D26/usr/sbin:$PATH dockerd --data-root "$T/root" --exec-root "$T/exec" -H "unix://$T/docker.sock" \
  --pidfile "$T/docker.pid" --iptables=false --bridge=none --storage-driver=overlay2 >"$T/dockerd.log" 2>&1 &
export DOCKER_HOST=unix://$T/docker.sock
i=0; until "$D26/usr/bin/docker" info >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 60 ] || exit 1; sleep 1; done
trap 'kill $(cat "$T/docker.pid"); sleep 3; rm -rf "$T"' EXIT
for f in swap gdup t1 t2 t3; do
  [ -f "$A/$f.tar" ] || continue
  echo "== $f.tar"
  ref=$("$D26/usr/bin/docker" load -i "$A/$f.tar" | sed -n 's/^Loaded image: //p' | tail -1)
  c=$("$D26/usr/bin/docker" create "$ref" /x)
  "$D26/usr/bin/docker" export "$c" | tar -t | grep '^etc/cron.d/' || true
  "$D26/usr/bin/docker" cp "$c:/etc/passwd" - 2>/dev/null | tar -xO 2>/dev/null || true
done
