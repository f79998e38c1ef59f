import type { Timeline, TimelineEntry } from '../core/analysis/timeline.js';
import { displayPath } from '../core/model/path.js';
import { formatMode, formatTime, jsonPath, safeText, safeMessage } from './format.js';

export const TIMELINE_SCHEMA = 'layerscope.timeline/v1';

export type TimelineSort = 'mtime' | 'ctime' | 'path';

export function sortTimeline(entries: readonly TimelineEntry[], by: TimelineSort): TimelineEntry[] {
  const key = (e: TimelineEntry) => (by === 'path' ? 0 : (e.times?.[by] ?? 0));
  return [...entries].sort((a, b) => key(a) - key(b) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function modeString(e: TimelineEntry): string {
  return e.type === 'whiteout' ? 'c---------' : formatMode(e.type, e.mode);
}

/** A name for a bodyfile field: escaped (no control chars, no raw non-UTF-8), and '|' escaped too. */
function bodyName(e: TimelineEntry): string {
  let n = '/' + displayPath(e.path).replace(/\|/g, '\\x7c');
  if (e.type === 'symlink' && e.linkname !== undefined) n += ' -> ' + displayPath(e.linkname).replace(/\|/g, '\\x7c');
  if (e.deleted) n += e.hiddenBy !== null ? ` (deleted: hidden by opaque /${displayPath(e.hiddenBy).replace(/\|/g, '\\x7c')})` : ' (deleted)';
  return n;
}

/**
 * The bodyfile (TSK 3.x, as mactime and plaso read it): MD5|name|inode|mode_as_string|UID|GID|size|atime|mtime|ctime|crtime,
 * whole seconds, MD5 0 unless the contents were hashed (`--hash`). `prefix` names the container when several are
 * in one file (`timeline --all`): `/<name>` before each path, so mactime's rows say whose they are.
 */
export function timelineBodyfile(t: Timeline, sort: TimelineSort = 'mtime', prefix = ''): string {
  const s = (x: number | undefined) => String(Math.floor(x ?? 0));
  const pre = prefix ? '/' + safeText(prefix).replace(/\|/g, '\\x7c').replace(/\//g, '\\x2f') : '';
  return sortTimeline(t.entries, sort)
    .map((e) => [e.md5 ?? '0', pre + bodyName(e), String(e.inode), modeString(e), String(e.uid), String(e.gid), String(e.size), s(e.times?.atime), s(e.times?.mtime), s(e.times?.ctime), s(e.times?.crtime)].join('|'))
    .join('\n') + (t.entries.length ? '\n' : '');
}

function iso(x: number | undefined): string {
  if (x === undefined) return '-'.padEnd(19);
  return formatTime(x).padEnd(19);
}

export function timelineTable(t: Timeline, sort: TimelineSort = 'mtime'): string {
  const c = t.container;
  const out: string[] = [];
  out.push(`container ${safeText(c.name)} (${c.id.slice(0, 12)}), ${c.state}, image ${safeText(c.imageRef ?? c.image)}`);
  out.push(`RW layer: ${safeText(c.rwDir ?? '-')}`);
  const flagged = t.entries.filter((e) => e.flags.length);
  out.push(`${t.entries.length} entries, ${flagged.length} flagged; times UTC; sorted by ${sort}`);
  if (flagged.length) {
    out.push('');
    out.push('FLAGGED:');
    for (const e of sortTimeline(flagged, sort)) out.push(`  ${e.flags.join(',').padEnd(22)} ${e.change ?? '-'} ${modeString(e)} /${displayPath(e.path)}`);
  }
  out.push('');
  out.push(`${'mtime'.padEnd(19)}  ${'ctime'.padEnd(19)}  chg ${'mode'.padEnd(10)} ${'uid:gid'.padEnd(11)} ${'size'.padStart(10)}  path [flags]`);
  for (const e of sortTimeline(t.entries, sort)) {
    out.push(
      `${iso(e.times?.mtime)}  ${iso(e.times?.ctime)}  ${(e.change ?? '-').padEnd(3)} ${modeString(e)} ${`${e.uid}:${e.gid}`.padEnd(11)} ${String(e.size).padStart(10)}  ${bodyName(e)}${e.flags.length ? `  [${e.flags.join(',')}]` : ''}`,
    );
  }
  if (t.problems.length) {
    out.push('');
    for (const p of t.problems) out.push(`${p.severity}: ${safeText(p.code)}: ${safeMessage(p.message)}${p.path ? ` (${safeMessage(p.path)})` : ''}`);
  }
  return out.join('\n') + '\n';
}

export function timelineJson(t: Timeline, sort: TimelineSort = 'mtime'): Record<string, unknown> {
  const c = t.container;
  return {
    schema: TIMELINE_SCHEMA,
    container: { id: c.id, name: c.name, state: c.state, image: c.image, imageRef: c.imageRef, rwDir: c.rwDir },
    entries: sortTimeline(t.entries, sort).map((e) => ({
      ...jsonPath(e.path),
      change: e.change,
      deleted: e.deleted,
      hiddenBy: e.hiddenBy === null ? null : jsonPath(e.hiddenBy).path,
      type: e.type,
      mode: e.mode,
      modeString: modeString(e),
      uid: e.uid,
      gid: e.gid,
      size: e.size,
      inode: e.inode,
      ...(e.times ?? { atime: null, mtime: null, ctime: null, crtime: null }),
      ...(e.linkname !== undefined ? { linkname: displayPath(e.linkname) } : {}),
      ...(e.md5 !== undefined ? { md5: e.md5 } : {}),
      flags: e.flags,
    })),
    flagged: t.entries.filter((e) => e.flags.length).length,
    problems: t.problems,
  };
}
