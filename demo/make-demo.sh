#!/usr/bin/env bash
# Rebuilds demo/demo.tar, the image `layerscope` opens when there is no readable /var/lib/docker.
# Needs a running Docker engine (DOCKER_HOST) and Debian's busybox-static; no registry access.
# The demo is a docker save (legacy format from Docker 20.10) of `layerscope-demo:1`, which shows each thing
# the tool finds: a big file deleted later, a secret removed after use, a build tree removed with rm -rf,
# an overwritten config, an opaque directory, a hardlink, a setuid file and a name with an escape sequence.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
docker=${DOCKER:-docker}
mkdir -p "$work/r/bin" "$work/r/etc" "$work/r/tmp" "$work/r/root"
cp /bin/busybox "$work/r/bin/busybox"
for a in sh ls cat rm mkdir ln chmod cp echo dd printf head yes tr; do ln -s busybox "$work/r/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$work/r/etc/passwd"
chmod 1777 "$work/r/tmp"
tar --numeric-owner --owner=0 --group=0 --mtime=2024-01-01 -C "$work/r" -c . | $docker import - layerscope-demo-base:1 >/dev/null
cat > "$work/Dockerfile" <<'DOCKERFILE'
FROM layerscope-demo-base:1
LABEL org.opencontainers.image.title="layerscope demo"
RUN mkdir -p /app/conf /app/cache && echo 'listen 80' > /app/conf/app.conf && \
    yes 'cached dependency bytes' | head -c 1500000 > /app/cache/deps.tar && echo v1 > /app/VERSION
RUN mkdir -p /root/.aws && printf '[default]\naws_secret_access_key = DEMO-NOT-A-REAL-KEY\n' > /root/.aws/credentials
RUN mkdir -p /tmp/build/src && yes 'object code' | head -c 800000 > /tmp/build/src/app.o && \
    yes 'toolchain' | head -c 400000 > /tmp/build/cc && echo 'int main(){}' > /tmp/build/src/main.c
RUN rm -rf /tmp/build /root/.aws/credentials && echo 'listen 8080' > /app/conf/app.conf && \
    ln /app/VERSION /app/VERSION.bak && cp /bin/busybox /app/tool && chmod 4755 /app/tool
RUN rm -rf /app/cache && mkdir /app/cache && echo fresh > /app/cache/README && \
    printf 'x' > "/app/$(printf 'log-\033]0;PWNED\007.txt')"
ENV APP_ENV=demo
CMD ["/bin/sh"]
DOCKERFILE
DOCKER_BUILDKIT=0 $docker build --network=none -q -t layerscope-demo:1 "$work" >/dev/null
$docker save layerscope-demo:1 > "$here/demo.tar"
$docker rmi layerscope-demo:1 layerscope-demo-base:1 >/dev/null
ls -l "$here/demo.tar"
