import type { VerifyReport, Finding } from '../core/verify/index.js';
import type { Attribution, Visibility } from '../core/verify/attribute.js';
import { jsonPath, safeText, shortId, showPath, safeMessage } from './format.js';
import { displayPath, pathToText } from '../core/model/path.js';

/**
 * Reports of `verify` (layerscope.verify/v1) and `whose` (layerscope.whose/v1). Paths are absolute; a name
 * that is not UTF-8 comes escaped in `path` with its bytes in `pathBase64`. Text output escapes everything
 * taken from evidence (names, tags, commands).
 */

export const WHOSE_SCHEMA = 'layerscope.whose/v1';

/** Tagged images by name; untagged ones (build intermediates) only counted. */
function imageList(images: Finding['usedBy']['images'], fmt: (name: string, index: number) => string): string[] {
  const tagged = images.filter((i) => i.tags.length).map((i) => fmt(safeText(i.tags.join(', ')), i.index));
  const untagged = images.length - tagged.length;
  return untagged ? [...tagged, `${untagged} untagged image(s)`] : tagged;
}

function users(u: Finding['usedBy']): string {
  const imgs = imageList(u.images, (n, i) => (i < 0 ? n : `${n} (layer ${i})`));
  const cts = u.containers.map((c) => `container ${safeText(c.name)}`);
  return [...imgs, ...cts].join(', ') || 'nothing';
}

function visText(v: Visibility): string {
  if (v.state === 'hidden') return `hidden by ${safeText(v.hiddenBy!.what)} (${v.hiddenBy!.reason})`;
  if (v.state === 'absent') return 'not in this layer\'s content';
  if (v.state === 'whiteout') return 'a whiteout marker here';
  return 'visible';
}

export function verifyText(r: VerifyReport): string {
  const out: string[] = [];
  const mark = (v: string) => (v === 'ok' ? 'OK  ' : v === 'failed' ? 'FAIL' : v === 'error' ? 'ERR ' : 'SKIP');
  out.push(`layerscope verify ${safeText(r.source.location)} (${r.source.kind})`);
  for (const l of r.mount.leftovers) {
    out.push(`leftover mount dir ${safeText(l.dir)} from pid ${l.pid} (${l.alive ? 'still running: left alone' : 'dead'})${l.mounts.length ? `, mounted: ${l.mounts.map(safeText).join(', ')}` : ''}: ${l.action === 'cleaned' ? 'unmounted and removed' : l.action === 'failed' ? `cleanup FAILED: ${safeText(l.error ?? '')}` : 'left alone'}`);
  }
  if (r.integrity.skipped) out.push(`integrity check skipped: ${r.integrity.skipped}`);
  if (r.mount.skipped) out.push(`mount check skipped: ${r.mount.skipped}`);
  for (const n of r.mount.notes) out.push(`mount: ${safeText(n)}`);
  out.push('');
  out.push('Layers:');
  for (const l of r.layers) {
    const who = imageList(l.usedBy.images, (n, i) => `${n}#${i}`).join(' ');
    const parts = [`integrity ${l.integrity.status}`, `mount ${l.mount ? (l.mount.ownDifferences ? `${l.mount.ownDifferences} difference(s) of its own` : l.mount.status === 'disagree' ? 'agree (differences from lower layers only)' : l.mount.status) : 'check not run'}`];
    out.push(`  ${mark(l.verdict)} ${shortId(l.chainId)}  ${parts.join(', ')}  ${who}`);
    if (l.integrity.message && l.integrity.status !== 'ok') out.push(`         ${safeMessage(l.integrity.message)}`);
  }
  if (r.stacks.length) {
    out.push('');
    out.push('Stacks (kernel view vs ours):');
    for (const s of r.stacks) {
      const how = s.form ? `${s.lowerCount} lowers, ${s.form} paths${s.mode === 'userns' ? ', user namespace' : ''}` : '';
      const ab = s.asBuilt ? (s.asBuilt.differences.length ? `, ${s.asBuilt.differences.length} difference(s) from the image as built` : ', as built') : '';
      out.push(`  ${mark(s.verdict)} ${safeText(s.label)}  ${s.status}${how ? ` (${how})` : ''}  ${s.entries.kernel}/${s.entries.ours} entries${s.differences.length ? `, ${s.differences.length} difference(s) from the disk` : ''}${ab}`);
      if (s.message) out.push(`         ${safeMessage(s.message)}`);
      for (const n of s.notes) out.push(`         note: ${safeText(n)}`);
    }
  }
  if (r.findings.length) {
    out.push('');
    out.push(`Findings (${r.findings.length}):`);
    for (const f of r.findings) {
      const vals = f.expected !== undefined || f.actual !== undefined ? ` [expected ${safeText(f.kind === 'linkname' ? showRaw(f.expected) : f.expected ?? '-')}, found ${safeText(f.kind === 'linkname' ? showRaw(f.actual) : f.actual ?? '-')}]` : '';
      const layer = f.layer ? (f.layer.role === 'image' ? `layer ${shortId(f.layer.chainId ?? '')}` : `the ${f.layer.role} layer`) : f.kind === 'archive' ? 'the archive itself' : 'no known layer';
      const where = f.member !== undefined ? `archive member ${JSON.stringify(displayPath(f.member))}` : showPath(f.path);
      out.push(`  ${f.check}${f.against ? `(${f.against})` : ''}/${f.kind} ${where}${vals}`);
      out.push(`      ${safeMessage(f.message)}`);
      out.push(`      in ${layer}; used by ${users(f.usedBy)}`);
      if (f.stacks) out.push(`      seen in ${f.stacks.length} stack(s): ${f.stacks.slice(0, 6).map(safeText).join(', ')}${f.stacks.length > 6 ? ', ...' : ''}`);
      for (const v of f.visibleIn ?? []) out.push(`      in ${safeText(v.user)}'s final view: ${f.kind === 'missing' && v.visibility.state === 'absent' ? 'removed from disk' : visText(v.visibility)}`);
    }
  }
  if (r.problems.length) {
    out.push('');
    out.push(`Evidence problems (${r.problems.length}):`);
    for (const p of r.problems) out.push(`  ${p.severity} ${p.code}: ${safeMessage(p.message)}${p.path ? ` (${safeMessage(p.path)})` : ''}`);
  }
  out.push('');
  const failed = r.layers.filter((l) => l.verdict === 'failed').length + r.stacks.filter((s) => s.verdict === 'failed').length;
  const errors = r.layers.filter((l) => l.verdict === 'error').length + r.stacks.filter((s) => s.verdict === 'error').length;
  out.push(r.ok ? `OK: ${r.layers.length} layer(s) and ${r.stacks.length} stack(s) verified${r.mount.skipped || !r.mount.ran ? ' (mount check not run)' : ''}${r.integrity.skipped ? ' (integrity check not run)' : ''}` : `FAILED: ${failed} failed, ${errors} could not be checked, ${r.findings.length} finding(s)`);
  return out.join('\n') + '\n';
}

function showRaw(s: string | undefined): string {
  return s === undefined ? '-' : JSON.stringify(Buffer.from(s, 'latin1').toString('utf8'));
}

export function verifyJson(r: VerifyReport): Record<string, unknown> {
  const fp = (f: Finding) => ({
    check: f.check,
    kind: f.kind,
    ...(f.member !== undefined ? { member: pathToText(f.member) ?? displayPath(f.member) } : jsonPath(f.path)),
    ...(f.expected !== undefined ? { expected: f.kind === 'linkname' ? Buffer.from(f.expected, 'latin1').toString('utf8') : f.expected } : {}),
    ...(f.actual !== undefined ? { actual: f.kind === 'linkname' ? Buffer.from(f.actual, 'latin1').toString('utf8') : f.actual } : {}),
    message: f.message,
    ...(f.against ? { against: f.against } : {}),
    ...(f.stacks ? { stacks: f.stacks } : {}),
    layer: f.layer,
    usedBy: f.usedBy,
    ...(f.visibleIn ? { visibleIn: f.visibleIn } : {}),
  });
  return {
    schema: r.schema,
    ok: r.ok,
    source: r.source,
    selection: r.selection,
    integrity: r.integrity,
    mount: r.mount,
    layers: r.layers.map((l) => ({
      chainId: l.chainId,
      diffId: l.diffId,
      cacheId: l.cacheId,
      verdict: l.verdict,
      integrity: { status: l.integrity.status, message: l.integrity.message, computedDiffId: l.integrity.result?.computedDiffId ?? null, findings: l.integrity.result?.findings.length ?? 0, notes: l.integrity.result?.notes ?? [] },
      mount: l.mount,
      usedBy: l.usedBy,
    })),
    stacks: r.stacks.map((s) => ({
      id: s.id,
      kind: s.kind,
      label: s.label,
      top: s.top,
      chainId: s.chainId,
      containerId: s.containerId,
      verdict: s.verdict,
      status: s.status,
      mode: s.mode,
      form: s.form,
      lowerCount: s.lowerCount,
      entries: s.entries,
      differences: s.differences.length,
      asBuilt: s.asBuilt ? { differences: s.asBuilt.differences.length, entries: s.asBuilt.entries, fromDisk: s.asBuilt.fromDisk } : null,
      message: s.message,
      notes: s.notes,
    })),
    findings: r.findings.map(fp),
    problems: r.problems,
  };
}

export function whoseText(a: Attribution): string {
  const out: string[] = [];
  out.push(`${safeText(a.input)}`);
  out.push(`  where: ${a.where}${a.overlayId ? ` (overlay2/${a.overlayId})` : ''}${a.layerPath !== null ? `, path in layer ${showPath(a.layerPath)}` : ''}`);
  if (a.layer) out.push(`  layer: chainID ${a.layer.chainId}\n         diffID  ${a.layer.diffId}`);
  for (const i of a.images) out.push(`  image ${safeText(i.tags.join(', ') || shortId(i.id))}: layer ${i.index}${i.visibility ? `; ${visText(i.visibility)}` : ''}`);
  for (const c of a.containers) out.push(`  container ${safeText(c.name)} (${c.state}): ${c.role === 'image-layer' ? `image layer under it (stack index ${c.index})` : `its ${c.role.toUpperCase()} layer`}${c.visibility ? `; ${visText(c.visibility)}` : ''}`);
  if (!a.images.length && !a.containers.length) out.push('  used by no image and no container');
  for (const n of a.notes) out.push(`  note: ${safeText(n)}`);
  return out.join('\n') + '\n';
}

export function whoseJson(list: Attribution[]): Record<string, unknown> {
  return {
    schema: WHOSE_SCHEMA,
    results: list.map((a) => ({
      input: a.input,
      root: a.root,
      where: a.where,
      overlayId: a.overlayId,
      ...(a.layerPath !== null ? { layerPath: jsonPath(a.layerPath) } : { layerPath: null }),
      layer: a.layer,
      images: a.images,
      containers: a.containers,
      notes: a.notes,
    })),
  };
}

/** One version of a path in a stack, as `whose --image|--container PATH` lists it. */
export interface PathVersion {
  layer: number;
  createdBy: string | null;
  kind: 'put' | 'whiteout';
  change: 'added' | 'modified' | 'deleted';
  type: string | null;
  size: number | null;
  /** The layer that ended it (deleted, overwrote, hid it), or null while it is what the tree shows. */
  until: number | null;
  endReason: string | null;
}

export interface PathHistory {
  path: string;
  /** `image app:1` or `container web` (escaped). */
  target: string;
  versions: PathVersion[];
  /** The layer whose version the top of the stack shows, or null (deleted, or never there). */
  visible: number | null;
}

export function pathHistoryText(h: PathHistory): string {
  const out = [`${showPath(h.path)} in ${h.target}: ${h.visible === null ? (h.versions.length ? 'not visible at the top (deleted or hidden)' : 'no layer ever wrote it') : `visible, from layer ${h.visible}`}`];
  for (const v of h.versions) {
    const what = v.kind === 'whiteout' ? 'deleted it' : `${v.change} ${v.type}${v.type === 'file' ? ` ${v.size} bytes` : ''}`;
    const end = v.until !== null ? `; ${v.endReason ?? 'ended'} by layer ${v.until}` : v.kind === 'put' ? '; visible' : '';
    out.push(`  layer ${String(v.layer).padStart(3)}  ${what}${end}  (${safeText(v.createdBy ?? 'no history entry')})`);
  }
  return out.join('\n') + '\n';
}

export function pathHistoryJson(list: PathHistory[]): Record<string, unknown> {
  return { schema: WHOSE_SCHEMA, paths: list.map((h) => ({ ...jsonPath(h.path.replace(/^\//, '')), target: h.target, visible: h.visible, versions: h.versions })) };
}
