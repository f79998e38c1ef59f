// The fixture images and containers that test/run.mjs builds into every private engine
// (test/fixtures/images/build.sh makes them; keep the two in sync). Tests refer to them by these constants.
//
// Layer numbering: L0 is ls-base:1's single layer (the busybox rootfs); L1.. are the layers each
// Dockerfile adds, in order. Instructions that make no layer (LABEL, ENV, CMD) are not numbered.

/** Image names (same in every engine). In the Docker 26 engines these are built BY that engine. */
export const IMAGES = Object.freeze({
  base: 'ls-base:1',
  bloat: 'ls-bloat:1',
  deep: 'ls-deep:1',
});

/**
 * In the Docker 26 engines only: the Docker 20.10-built images, copied in with `docker save | docker load`
 * and tagged with these names. Same diffIDs as in docker20; same image IDs in docker26 (overlay2), while in
 * docker26c (containerd store) the ID shown is the digest of the manifest the store made.
 */
export const IMAGES_FROM20 = Object.freeze({
  base: 'ls-base:from20',
  bloat: 'ls-bloat:from20',
  deep: 'ls-deep:from20',
});

/** Container names (on ls-bloat:1, all with --network none), in every engine. */
export const CONTAINERS = Object.freeze({
  /** Ran a command that changed files, then exited 0. */
  stopped: 'ls-stopped',
  /** Running `sleep 100000`; changed through `docker exec`. */
  running: 'ls-running',
  /** Created, never started (RW layer exists, empty apart from the init layer). */
  created: 'ls-created',
});

/**
 * Containers planted for `inspect` and its risk findings (test/fixtures/containers/planted.sh), all created on
 * ls-base:1 (`true`), never started. For each: the risk findings (codes) it must have, exactly. Every one runs
 * as root (busybox has no USER) except ls-plain-user, so risk.root-user is among them.
 */
export const PLANTED = Object.freeze({
  'ls-risk-privileged': ['risk.privileged', 'risk.root-user'],
  'ls-risk-sysadmin': ['risk.cap-add', 'risk.root-user'],
  'ls-risk-docker-sock': ['risk.engine-socket', 'risk.root-user'],
  'ls-risk-host-root': ['risk.host-path-rw', 'risk.root-user'],
  'ls-risk-pid-host': ['risk.pid-host', 'risk.root-user'],
  'ls-risk-seccomp': ['risk.seccomp-unconfined', 'risk.root-user'],
  'ls-risk-device': ['risk.device', 'risk.root-user'],
  'ls-plain-network-none': ['risk.root-user'],
  'ls-plain-user': [],
  'ls-plain-mounts': ['risk.root-user'],
  'ls-plain-labels': ['risk.root-user'],
  'ls-plain-ports': ['risk.root-user'],
});

/** ls-base:1: a single layer (imported tar with owners 0:0 and mtime 2024-01-01T00:00:00Z). */
export const BASE = Object.freeze({
  layers: 1,
  busybox: '/bin/busybox',
  /** Applets linked to busybox in /bin (symlinks `bin/<name> -> busybox`). */
  applets: [
    'sh', 'ash', 'ls', 'cat', 'rm', 'rmdir', 'mkdir', 'ln', 'chmod', 'chown', 'chgrp', 'cp', 'mv', 'echo', 'dd',
    'touch', 'sleep', 'find', 'sha256sum', 'md5sum', 'head', 'tail', 'printf', 'mknod', 'mkfifo', 'stat',
    'readlink', 'realpath', 'test', '[', 'true', 'false', 'env', 'id', 'grep', 'sed', 'tr', 'wc', 'xargs', 'yes',
    'sort', 'uniq', 'seq', 'du', 'df', 'tar', 'hexdump', 'od', 'basename', 'dirname', 'pwd', 'uname', 'date',
    'truncate', 'sync', 'which', 'setsid',
  ],
  dirs: { '/tmp': 0o1777, '/var/tmp': 0o1777, '/root': 0o700 },
  files: ['/etc/passwd', '/etc/group', '/etc/hostname'],
});

/** Raw bytes of the hostile names in ls-bloat:1's /names (L9), as byte strings (latin1, see src/core/model/path.ts). */
const utf8 = (s) => Buffer.from(s, 'utf8').toString('latin1');
export const NAMES = Object.freeze({
  cafe: utf8('names/café.txt'),
  japanese: utf8('names/日本語.txt'),
  whale: utf8('names/🐳 whale.txt'),
  space: 'names/with space.txt',
  leadingSpace: 'names/ leading-space',
  newline: 'names/new\nline.txt',
  /** ESC ] 0 ; PWNED BEL: printed raw, this sets the terminal title to PWNED. */
  titleEscape: 'names/title-\x1b]0;PWNED\x07.txt',
  /** ESC [ 31 m ... ESC [ 0 m: printed raw, this colours the terminal. */
  colorEscape: 'names/red-\x1b[31mtext\x1b[0m.txt',
  /** Not valid UTF-8: bytes 0xff 0xfe. */
  badUtf8: 'names/bad-\xff\xfe-utf8.txt',
  backslash: 'names/back\\slash.txt',
});

/**
 * ls-bloat:1 (test/fixtures/images/bloat/Dockerfile): 12 layers = L0 (base) + L1..L11. Its last RUN (`RUN true`)
 * changes nothing, and the legacy builder then makes no layer: its history entry has empty_layer: true.
 * Paths are layer paths (no leading slash). Final-image state is given where it matters.
 */
export const BLOAT = Object.freeze({
  layers: 12,
  labels: { 'org.layerscope.fixture': 'bloat', 'org.layerscope.note': 'LABEL/ENV/CMD make no layer' },
  env: ['GREETING=hello', 'LS_FIXTURE=bloat', 'LS_LAST=1'],
  cmd: ['/bin/sh', '-c', 'echo ls-bloat'],
  /** What each layer does (index = layer number). */
  steps: [
    'L0 base: busybox rootfs',
    'L1 COPY --chown=1000:1000 payload.txt -> app/payload.txt',
    'L2 originals: data/{overwritten.txt,chmod-only.txt,f,f-link(hardlink of f),reborn.txt}, opq/{a/file,b/file,keep.txt}, gone/{y,sub/x,sub/deeper/z}, dirs links/ names/; data/ghost created+deleted in the same RUN (no trace)',
    'L3 data/big.bin: 3 MiB = 1 MiB zeros + 2 MiB of "layerscope-bloat-pattern-0123456789abcdef\\n" repeated (truncated)',
    'L4 data/overwritten.txt rewritten ("replaced-in-L4"); data/chmod-only.txt chmod 0644->0600 only (copy-up, same bytes)',
    'L5 whiteouts: data/big.bin (3 MiB hidden in L3), data/reborn.txt',
    'L6 opaque dir opq/ (trusted.overlay.opaque=y) holding only opq/c ("new"); data/reborn.txt recreated ("v2")',
    'L7 whiteout data/f-link (one of two hardlinked names; data/f stays)',
    'L8 symlinks: links/rel -> ../data/f, links/abs -> /data/f, links/dangling -> /nonexistent/target, links/escape -> ../../../../etc/passwd',
    'L9 hostile names in names/ (see NAMES)',
    'L10 usr/local/bin/suid-helper (04755), usr/local/bin/sgid-helper (02755), special/fifo (fifo), special/null-like (char 1:3, not a whiteout), special/sticky/ (01777), special/owned-by-1000 (1000:1000)',
    'L11 whiteout gone (rm -rf /gone: hides gone/y, gone/sub/x, gone/sub/deeper/z)',
    '(no layer) RUN true: no filesystem change, so no layer; history entry with empty_layer: true',
  ],
  bigFile: { path: 'data/big.bin', size: 3 * 1024 * 1024, addedIn: 3, deletedIn: 5 },
  overwritten: { path: 'data/overwritten.txt', layers: [2, 4], final: 'replaced-in-L4\n' },
  chmodOnly: { path: 'data/chmod-only.txt', layers: [2, 4], modes: [0o644, 0o600], content: 'same-content\n' },
  /**
   * L6. Built by docker20 or docker26 (overlay2): opq/ is an opaque dir (trusted.overlay.opaque=y in the layer
   * dir, `opq/.wh..wh..opq` in a saved tar). Built by docker26c (containerd store): NO opaque dir; instead one
   * whiteout per old entry (char 0:0 opq/a, opq/b, opq/keep.txt in the snapshot; `.wh.a` etc. in the tar),
   * because containerd's differ compares trees. ls-bloat:from20 in docker26c has the opaque form.
   */
  opaque: {
    path: 'opq',
    layer: 6,
    hidden: ['opq/a', 'opq/a/file', 'opq/b', 'opq/b/file', 'opq/keep.txt'],
    final: ['opq/c'],
    containerdNativeWhiteouts: ['opq/a', 'opq/b', 'opq/keep.txt'],
  },
  hardlink: { path: 'data/f', link: 'data/f-link', addedIn: 2, linkDeletedIn: 7, content: 'shared-inode\n' },
  reborn: { path: 'data/reborn.txt', layers: [2, 5, 6], final: 'v2\n' },
  ghost: { path: 'data/ghost' },
  deletedTree: { path: 'gone', layer: 11, hidden: ['gone/y', 'gone/sub', 'gone/sub/x', 'gone/sub/deeper', 'gone/sub/deeper/z'] },
  symlinks: {
    'links/rel': '../data/f',
    'links/abs': '/data/f',
    'links/dangling': '/nonexistent/target',
    'links/escape': '../../../../etc/passwd',
  },
  setuid: 'usr/local/bin/suid-helper',
  setgid: 'usr/local/bin/sgid-helper',
  fifo: 'special/fifo',
  charDevice: { path: 'special/null-like', major: 1, minor: 3 },
  /** History: 17 entries (base, LABEL, ENV, COPY, 10 RUN with a layer, RUN true, ENV, CMD); 5 with empty_layer: true. */
  history: { entries: 17, emptyLayer: 5, noLayerRun: '/bin/sh -c true' },
});

/** ls-deep:1 (test/fixtures/images/deep/gen-dockerfile.sh 80): L0 + 80 RUN layers = 81 layers. */
export const DEEP = Object.freeze({
  runLayers: 80,
  layers: 81,
  rule:
    'layer i writes deep/f<i> ("layer i\\n"); i%5==0 overwrites deep/f<i-3>; i%7==0 deletes deep/f<i-2>; ' +
    'i%10==0 adds deep/d<i>/file; i%10==4 (i>10) deletes deep/d<i-4>',
});

/** What each container changed in its RW layer (paths as `docker diff` prints them). */
export const CONTAINER_CHANGES = Object.freeze({
  'ls-stopped': {
    added: ['/data/added.txt', '/newdir', '/newdir/sub', '/newdir/sub/n.txt'],
    changed: ['/data', '/data/overwritten.txt', '/data/chmod-only.txt'],
    deleted: ['/data/f', '/names'],
    exitCode: 0,
  },
  'ls-running': {
    added: ['/tmp/dropper.sh', '/usr/local/bin/rootshell', '/root/.ssh', '/root/.ssh/authorized_keys'],
    changed: ['/tmp', '/usr', '/usr/local', '/usr/local/bin', '/root', '/etc', '/etc/passwd', '/app'],
    deleted: ['/app/payload.txt'],
    setuid: '/usr/local/bin/rootshell',
    authorizedKeys: '/root/.ssh/authorized_keys',
  },
  'ls-created': { added: [], changed: [], deleted: [] },
});

/** Engine names in LAYERSCOPE_TEST_ENGINES. */
export const ENGINES = Object.freeze(['docker20', 'docker26', 'docker26c']);

/**
 * Volumes and binds of test/fixtures/containers/volumes.sh. `data` holds the files VOLUME_FILES lists; it is
 * mounted rw by `writer` (which wrote them) and ro by `reader`, which also binds its _data (inside the data root)
 * at /bound-inside and /tmp (outside) at /bound-outside. `anon` has one anonymous volume at /anon.
 * planted.sh adds ls-volume (empty, mounted by ls-plain-mounts).
 */
export const VOLUMES = Object.freeze({
  data: 'ls-vol-data',
  labels: 'ls-vol-labels',
  tmpfs: 'ls-vol-tmpfs',
  writer: 'ls-vol-writer',
  reader: 'ls-vol-reader',
  anon: 'ls-vol-anon',
  labelValues: { 'org.layerscope.fixture': 'volumes', 'org.layerscope.note': 'with space' },
});
/** The containers volumes.sh makes (every suite that lists all containers of an engine expects them). */
export const VOLUME_CONTAINERS = Object.freeze([VOLUMES.writer, VOLUMES.reader, VOLUMES.anon]);

/** The container test/fixtures/containers/mount.sh makes (every suite that lists all containers expects it). */
export const MOUNT_CONTAINERS = Object.freeze(['ls-mount-volumes']);

/**
 * Containers of test/fixtures/containers/logs.sh (for `logs`, compared with docker logs): name -> the format of
 * its files (syslog: docker's local-format cache), the driver, and whether docker logs (and we) can read it.
 */
export const LOG_CONTAINERS = Object.freeze({
  'ls-logs-json': { format: 'json-file', driver: 'json-file', readable: true },
  'ls-logs-json-rotated': { format: 'json-file', driver: 'json-file', readable: true },
  'ls-logs-local': { format: 'local', driver: 'local', readable: true },
  'ls-logs-local-rotated': { format: 'local', driver: 'local', readable: true },
  'ls-logs-tty': { format: 'json-file', driver: 'json-file', readable: true },
  'ls-logs-syslog': { format: 'local', driver: 'syslog', readable: true },
  'ls-logs-none': { format: null, driver: 'none', readable: false },
  'ls-logs-journald': { format: null, driver: 'journald', readable: false },
});
