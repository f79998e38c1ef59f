import * as path from 'node:path';
import type { Source } from '../../model/source.js';
import type { ContainerInfo, Problem } from '../../model/types.js';
import { problem } from '../../model/types.js';
import { Evidence } from '../../sources/evidence.js';

/**
 * Which of a container's volumes and binds `layerscope mount --volumes` can show, and from where in the
 * evidence (docker-explorer does the same: the container's layers, then its volumes and binds, read-only).
 *
 * - A named or anonymous volume of the local driver: `<data root>/volumes/<name>/_data` of OUR data root (the
 *   path the engine recorded is the original host's, not where the evidence is now). The name is checked, and
 *   every component is lstat'ed: a `_data` (or `volumes/<name>`) that is a symlink is refused with a problem,
 *   never followed.
 * - A bind: its recorded source is a path on the original host. It is part of the evidence only when it lies
 *   inside the original data root (the data root's own location, as the engine recorded it in the container's
 *   ResolvConfPath/HostnamePath/LogPath or a volume's path), or anywhere when the user says where the host's /
 *   is (`--host-root`, e.g. a disk image mounted at /mnt/image). Mapped into the evidence, every component is
 *   lstat'ed from the evidence root: a symlink anywhere is refused.
 * - Anything else (volumes of another driver, binds from outside the evidence, sources that are neither a
 *   directory nor a regular file) is skipped, with the reason.
 */

export interface BindPlan {
  /** Destination in the container, absolute and normalised (`/data`). */
  destination: string;
  /** Host path in the evidence, checked: every component a real directory, the last a dir or a regular file. */
  source: string;
  kind: 'volume' | 'bind';
  /** Volume name (volumes only). */
  name: string | null;
  isDir: boolean;
  /** dev/ino of the source as checked: the bind must show exactly this inode (mount(8) follows symlinks). */
  dev: number;
  ino: number;
}

export interface BindSkip {
  destination: string;
  reason: string;
}

const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

/** The original data root, as the engine recorded it in the container's own paths (`<root>/containers/<id>/...`). */
export function originalDataRoot(c: ContainerInfo): string | null {
  const i = c.inspect;
  for (const p of [i?.ResolvConfPath, i?.HostnamePath, i?.HostsPath, i?.LogPath]) {
    if (typeof p !== 'string') continue;
    const m = /^(\/.*)\/containers\/([0-9a-f]{64})\/[^/]+$/.exec(p);
    if (m && m[2] === c.id && path.posix.normalize(m[1]!) === m[1]) return m[1]!;
  }
  for (const m of i?.Mounts ?? []) {
    const x = /^(\/.*)\/volumes\/[^/]+\/_data$/.exec(m.Source ?? '');
    if (m.Type === 'volume' && x && path.posix.normalize(x[1]!) === x[1]) return x[1]!;
  }
  return null;
}

/** A destination we can place below the mount point: absolute, normalised, not `/`, no `.`/`..` components. */
export function cleanDestination(d: string): string | null {
  if (!d.startsWith('/') || d.includes('\0')) return null;
  const n = path.posix.normalize(d).replace(/\/+$/, '');
  if (n === '' || n !== d.replace(/\/+$/, '') || n.split('/').some((c) => c === '.' || c === '..')) return null;
  return n;
}

export function planBinds(source: Source, c: ContainerInfo, hostRoot: string | null): { binds: BindPlan[]; skipped: BindSkip[]; problems: Problem[] } {
  const binds: BindPlan[] = [];
  const skipped: BindSkip[] = [];
  const problems: Problem[] = [];
  const root = source.location.replace(/\/+$/, '') || '/';
  const ev = new Evidence(root);
  const origRoot = originalDataRoot(c);
  for (const m of c.mounts) {
    const destination = cleanDestination(m.destination);
    if (!destination) {
      skipped.push({ destination: m.destination, reason: 'the destination is not a plain absolute path' });
      continue;
    }
    const skip = (reason: string) => skipped.push({ destination, reason });
    if (m.type === 'volume' || (m.type === null && m.name)) {
      const name = m.name ?? '';
      if (!VOLUME_NAME.test(name)) {
        skip(`volume name ${JSON.stringify(name.slice(0, 80))} is not a valid volume name`);
        continue;
      }
      // A volume of another driver keeps its data elsewhere: its recorded source is not <root>/volumes/<name>/_data.
      const recorded = c.inspect?.Mounts.find((x) => x.Destination === m.destination)?.Source ?? m.source ?? '';
      if (recorded && origRoot && recorded !== `${origRoot}/volumes/${name}/_data`) {
        skip(`volume ${name}: its data is not in the data root (recorded at ${recorded}; another volume driver?)`);
        continue;
      }
      checkSource(ev, ['volumes', name, '_data'], destination, 'volume', name, binds, skipped, problems);
      continue;
    }
    if (m.type === 'bind' || (m.type === null && m.source)) {
      const src = m.source ?? '';
      const clean = src.startsWith('/') ? path.posix.normalize(src).replace(/(.)\/+$/, '$1') : '';
      if (!clean || clean !== (src.replace(/\/+$/, '') || '/')) {
        skip(`bind source ${JSON.stringify(src)} is not a plain absolute path`);
        continue;
      }
      if (hostRoot) {
        const rel = clean.split('/').filter(Boolean);
        if (!rel.length) {
          skip(`bind source / is the whole host; not mounted`);
          continue;
        }
        checkSource(new Evidence(hostRoot.replace(/\/+$/, '') || '/'), rel, destination, 'bind', null, binds, skipped, problems);
        continue;
      }
      if (!origRoot || !(clean === origRoot || clean.startsWith(origRoot + '/'))) {
        skip(`bind source ${src} is outside the evidence${origRoot ? ` (the data root was ${origRoot})` : ''}; give --host-root DIR (where the host's / is mounted) to map it`);
        continue;
      }
      const rel = clean.slice(origRoot.length).split('/').filter(Boolean);
      if (!rel.length) {
        skip('bind source is the whole data root; not mounted');
        continue;
      }
      checkSource(ev, rel, destination, 'bind', null, binds, skipped, problems);
      continue;
    }
    skip(`mount type ${JSON.stringify(m.type)} has nothing in the evidence to show`);
  }
  // Parents before what is mounted inside them.
  binds.sort((a, b) => a.destination.split('/').length - b.destination.split('/').length || a.destination.localeCompare(b.destination));
  return { binds, skipped, problems };
}

function checkSource(ev: Evidence, rel: string[], destination: string, kind: 'volume' | 'bind', name: string | null, binds: BindPlan[], skipped: BindSkip[], problems: Problem[]): void {
  const what = kind === 'volume' ? `volume ${name}` : 'bind source';
  let st;
  let host = '';
  try {
    host = ev.path(...rel);
    st = ev.lstat(...rel);
  } catch (err) {
    // A symlinked component (or an unsafe name): refused, and said as a problem of the evidence.
    problems.push(problem('error', `mount.${kind}.refused`, `${what} for ${destination}: ${(err as Error).message}`, host || null));
    skipped.push({ destination, reason: `${what}: ${(err as Error).message}` });
    return;
  }
  if (!st) {
    skipped.push({ destination, reason: `${what} ${host} does not exist in the evidence` });
    return;
  }
  if (st.isSymbolicLink()) {
    problems.push(problem('error', `mount.${kind}.symlink`, `${what} for ${destination} is a symlink inside the evidence; not followed`, host));
    skipped.push({ destination, reason: `${what} ${host} is a symlink; not followed` });
    return;
  }
  if (!st.isDirectory() && !st.isFile()) {
    skipped.push({ destination, reason: `${what} ${host} is neither a directory nor a regular file` });
    return;
  }
  binds.push({ destination, source: host, kind, name, isDir: st.isDirectory(), dev: st.dev, ino: st.ino });
}
