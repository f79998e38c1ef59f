import type { ImageComparison, FileDiffRow } from '../core/analysis/compare.js';
import type { Attrs } from '../core/model/types.js';
import type { Sink } from './json.js';
import { formatBytes, formatMode, jsonPath, safeText, shortId, showPath } from './format.js';

export const COMPARE_SCHEMA = 'layerscope.diff/v1';

function name(img: ImageComparison['a']): string {
  return safeText(img.tags[0] ?? shortId(img.id));
}

function attrsShort(a: Attrs | null): string {
  if (!a) return '';
  return `${formatMode(a.type, a.mode)} ${a.uid}:${a.gid} ${a.type === 'file' || a.type === 'hardlink' ? a.size : ''}`.trimEnd();
}

const MARK: Record<FileDiffRow['change'], string> = { added: '+', removed: '-', changed: '~' };

/** The diff as text, written as its rows come (a diff of millions of rows is never held). */
export async function writeCompareText(c: ImageComparison, opts: { labelA: string; labelB: string; contentNote?: string }, write: Sink): Promise<void> {
  const out: string[] = [];
  out.push(`A: ${safeText(opts.labelA)}  ${name(c.a)} (${shortId(c.a.id)}), ${c.a.layers.length} layers`);
  out.push(`B: ${safeText(opts.labelB)}  ${name(c.b)} (${shortId(c.b.id)}), ${c.b.layers.length} layers`);
  out.push(`common layer prefix: ${c.commonPrefix} layer(s)`);
  out.push('');
  out.push('layers:');
  const rows = Math.max(c.layersA.length, c.layersB.length);
  for (let i = 0; i < rows; i++) {
    const la = c.layersA[i];
    const lb = c.layersB[i];
    const cell = (l: typeof la, side: string) =>
      l ? `${side}${String(l.index).padStart(3)} ${l.diffId.slice(7, 19)} ${formatBytes(l.bytes).padStart(9)} ${l.otherIndex === null ? 'only here' : l.otherIndex === l.index ? 'shared' : `shared (other's L${l.otherIndex})`}` : '';
    out.push(`  ${cell(la, 'A').padEnd(50)} ${cell(lb, 'B')}`);
  }
  out.push('');
  const k = c.counts;
  out.push(`files: ${k.added} added (${formatBytes(k.addedBytes)}), ${k.removed} removed (${formatBytes(k.removedBytes)}), ${k.changed} changed; visible size ${k.sizeDelta >= 0 ? '+' : '-'}${formatBytes(Math.abs(k.sizeDelta))}`);
  if (opts.contentNote) out.push(opts.contentNote);
  let part = out.join('\n') + '\n';
  for await (const f of c.rows()) {
    const what = f.change === 'changed' ? ` [${f.differences.join(',')}${f.content === 'unknown' ? ',content?' : ''}]` : '';
    const attrs = f.change === 'added' ? attrsShort(f.b) : f.change === 'removed' ? attrsShort(f.a) : `${attrsShort(f.a)} -> ${attrsShort(f.b)}`;
    part += `${MARK[f.change]} ${showPath(f.path)}${what}  ${attrs}\n`;
    if (part.length > 64 * 1024) {
      await write(part);
      part = '';
    }
  }
  await write(part);
}

/** The whole text at once: for tests and small diffs. */
export async function compareText(c: ImageComparison, opts: { labelA: string; labelB: string; contentNote?: string }): Promise<string> {
  let s = '';
  await writeCompareText(c, opts, (t) => {
    s += t;
  });
  return s;
}

function attrsJson(a: Attrs | null): Record<string, unknown> | null {
  if (!a) return null;
  return {
    type: a.type,
    mode: a.mode,
    uid: a.uid,
    gid: a.gid,
    size: a.size,
    mtime: a.mtime,
    mtimeNsec: a.mtimeNsec,
    ...(a.linkname !== undefined ? { linkname: jsonPath(a.linkname).path.slice(a.type === 'symlink' ? 1 : 0) } : {}),
    ...(a.devMajor !== undefined ? { devMajor: a.devMajor, devMinor: a.devMinor } : {}),
    ...(a.xattrs ? { xattrs: a.xattrs } : {}),
  };
}

/** The diff as JSON (what JSON.stringify(…, null, 2) of the whole would print), its files written as they come. */
export async function writeCompareJson(c: ImageComparison, opts: { labelA: string; labelB: string; content: boolean }, write: Sink): Promise<void> {
  const head = {
    schema: COMPARE_SCHEMA,
    a: { source: opts.labelA, id: c.a.id, tags: c.a.tags, layers: c.layersA },
    b: { source: opts.labelB, id: c.b.id, tags: c.b.tags, layers: c.layersB },
    commonPrefix: c.commonPrefix,
    contentCompared: opts.content,
    counts: c.counts,
  };
  const text = JSON.stringify(head, null, 2);
  let part = text.slice(0, -2) + ',\n  "files": [';
  let n = 0;
  for await (const f of c.rows()) {
    const row = { ...jsonPath(f.path), change: f.change, differences: f.differences, content: f.content, aLayer: f.aLayer, bLayer: f.bLayer, a: attrsJson(f.a), b: attrsJson(f.b) };
    part += `${n++ ? ',' : ''}\n    ${JSON.stringify(row, null, 2).replace(/\n/g, '\n    ')}`;
    if (part.length > 64 * 1024) {
      await write(part);
      part = '';
    }
  }
  await write(part + (n ? '\n  ]\n}\n' : ']\n}\n'));
}
