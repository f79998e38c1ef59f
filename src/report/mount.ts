import type { MountResult, UnmountResult } from '../core/verify/mount/index.js';
import { safeText } from './format.js';

/** `layerscope mount` and `umount`: what was mounted where, exactly, and how to undo it. */

export const MOUNT_SCHEMA = 'layerscope.mount/v1';
export const UMOUNT_SCHEMA = 'layerscope.umount/v1';

export function mountJson(r: MountResult, undo: string): object {
  return {
    schema: MOUNT_SCHEMA,
    id: r.id,
    workspace: r.workspace,
    stateFile: r.stateFile,
    createdDirs: r.createdDirs,
    mounts: r.mounts.map((m) => ({
      mountPoint: m.mountPoint,
      kind: m.kind,
      label: m.label,
      image: m.imageId,
      layer: m.layer,
      container: m.containerId ? { id: m.containerId, name: m.containerName } : null,
      fsname: m.fsname,
      options: m.options,
      form: m.form,
      cwd: m.cwd,
      origin: m.origin,
      lowerdirs: m.lowerdirs,
      binds: m.binds,
      notMounted: m.skipped,
      notes: m.notes,
    })),
    undo,
    problems: r.problems,
  };
}

const role = (l: { role: string; index: number | null }) => (l.role === 'image' ? `layer ${l.index}` : l.role);

export function mountText(r: MountResult, undo: string): string {
  const out: string[] = [];
  for (const m of r.mounts) {
    out.push(`mounted ${safeText(m.label)} read-only at ${safeText(m.mountPoint)}`);
    out.push(`  overlay ${m.fsname}: ${m.lowerdirs.length} lower dirs, no upper or work dir (${m.form === 'short' ? `short names, relative to ${safeText(m.cwd ?? '')}` : 'absolute paths'}; ${m.origin === 'unpacked' ? `layers unpacked in ${safeText(r.workspace)}` : 'layer dirs of the evidence, in place'})`);
    for (const l of m.lowerdirs) out.push(`    ${role(l).padEnd(9)} ${safeText(l.dir)}`);
    for (const b of m.binds) out.push(`  ${b.kind === 'volume' ? `volume ${safeText(b.name ?? '')}` : 'bind'}: ${safeText(b.source)} at ${safeText(b.mountPoint)} (read-only, nosuid, nodev, noexec)`);
    for (const s of m.skipped) out.push(`  not mounted: ${safeText(s.destination)}: ${safeText(s.reason)}`);
    for (const n of m.notes) out.push(`  note: ${safeText(n)}`);
  }
  out.push(`undo with: ${safeText(undo)}`);
  return out.join('\n') + '\n';
}

export function umountJson(r: UnmountResult): object {
  return { schema: UMOUNT_SCHEMA, ...r };
}

export function umountText(r: UnmountResult): string {
  const out: string[] = [];
  for (const u of r.unmounted) out.push(`unmounted ${safeText(u.mountPoint)}${u.how === 'detached' ? ' (busy: detached lazily; released when nothing uses it)' : ''}`);
  for (const p of r.removed) out.push(`removed ${safeText(p)}`);
  for (const l of r.left) out.push(`left ${safeText(l.what)}: ${safeText(l.reason)}`);
  if (!out.length) out.push('nothing of layerscope\'s was mounted or left behind');
  return out.join('\n') + '\n';
}
