import type { ImageAnalysis } from '../core/analysis/analyze.js';
import type { ContainerAnalysis } from '../core/analysis/container.js';
import { modelOf, type ModelProgress, type SourceModel } from '../core/analysis/model.js';
import { findContainer, findImage } from '../core/analysis/select.js';
import type { OpenOptions, Source } from '../core/model/source.js';
import { safeMessage, safeText } from '../report/format.js';
import { pickerImages, type Action, type LoadProgress, type State } from './state/index.js';
import type { ContainerInfo } from '../core/model/types.js';
import { containerMount, mountTreeAnalysis, type ContainerMount } from '../core/analysis/volumes.js';
import { mountRows } from './container-rows.js';
import type { LogLine, LogsView, MountInfo } from './container-tabs.js';
import { containerLogs, entryTime, type ContainerLogs } from '../core/sources/logs/index.js';
import * as os from 'node:os';
import { catTarget } from '../core/export/cat.js';
import { contentReader, imageBodies, treeBodies, type ItemBodies } from '../core/export/content.js';
import { extractItems, planExtract } from '../core/export/extract.js';
import { OutputDir, evidenceLocations } from '../core/output/index.js';
import { displayPath } from '../core/model/path.js';
import { formatBytes } from '../report/format.js';
import { readForViewer } from './viewer.js';
import type { EntryRef } from './state/index.js';
import { verifyInPlace, type InPlaceReport } from '../core/verify/index.js';

/** The logs tab holds the last entries only (layerscope logs prints them all), each line cut for the screen. */
const LOG_TAB_ENTRIES = 10_000;
const LOG_TAB_LINE = 4096;

/** The logs tab holds the last entries only (layerscope logs prints them all), each line cut for the screen. */


/**
 * The side effects of the UI, kept out of the reducer: open the source (with progress), analyse what the user
 * picks, and fill in the picker's figures in the background. Results come back as actions.
 */
export interface Driver {
  start(dispatch: (a: Action) => void): void;
  request(want: NonNullable<State['want']>, dispatch: (a: Action) => void): void;
  stop(): void;
}

export interface SessionOptions {
  location: string;
  /** How to open it (openSource, or a fake in tests). */
  open: (location: string, opts: OpenOptions) => Promise<Source>;
  /** Preselect an image (reference) or container (name/id). */
  image?: string;
  container?: string;
  /** Shown in the header (e.g. "demo image: /var/lib/docker is not readable"). */
  note?: string | null;
  /** Minimum milliseconds between progress actions. */
  progressEveryMs?: number;
}

export class Session implements Driver {
  source: Source | null = null;
  private stopped = false;
  private lastProgress = 0;
  private dispatch: (a: Action) => void = () => {};

  constructor(readonly opts: SessionOptions) {}

  private progress(p: LoadProgress, force = false): void {
    const now = Date.now();
    if (!force && now - this.lastProgress < (this.opts.progressEveryMs ?? 50)) return;
    this.lastProgress = now;
    this.dispatch({ type: 'progress', progress: { ...p, phase: safeText(p.phase), detail: p.detail === undefined ? undefined : safeText(p.detail) } });
  }

  start(dispatch: (a: Action) => void): void {
    this.dispatch = (a) => {
      if (!this.stopped) dispatch(a);
    };
    void this.run().catch((err) => this.dispatch({ type: 'error', message: errorText(err) }));
  }

  private model: SourceModel | null = null;
  private ticker: NodeJS.Timeout | null = null;

  /** Layers read and stacked: `reading layers 12/42 · 153k entries · 210k/s · what`. */
  private modelProgress(p: ModelProgress): void {
    const rate = p.elapsedMs > 0 ? Math.round((p.entries * 1000) / p.elapsedMs) : 0;
    const k = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${Math.round(n / 1e3)}k` : String(n));
    this.progress({ phase: 'reading layers', done: p.layersRead, total: p.layersWanted, detail: `${k(p.entries)} entries · ${k(rate)}/s · ${p.detail}` });
  }

  private async run(): Promise<void> {
    this.progress({ phase: `opening ${this.opts.location}`, done: 0, total: null }, true);
    // Opening reads metadata only (configs, layer records, container configs): the list is on screen before
    // any layer is read.
    const source = await this.opts.open(this.opts.location, { progress: (e) => this.progress(e) });
    this.source = source;
    if (this.stopped) return;
    // Layers are stacked in slices, so that keys are answered while a big layer is applied.
    this.model = modelOf(source, { sliced: true });
    const model = this.model;
    model.onProgress((p) => this.modelProgress(p));
    // Between a layer's start and end, rows come in: the line moves with them.
    this.ticker = setInterval(() => {
      if (model.progress.layersRead < model.progress.layersWanted) this.modelProgress(model.progress);
    }, 250);
    this.ticker.unref();
    const only = source.images.length + source.containers.length === 1;
    const opening = !!(this.opts.container || this.opts.image || only);
    this.dispatch({ type: 'sourceOpened', location: this.opts.location, images: source.images, containers: source.containers, note: this.opts.note ?? null, opening, problems: source.problems });
    // What to show first: the asked-for image or container, or the only thing there is.
    if (this.opts.container) {
      this.request({ kind: 'container', id: findContainer(source, this.opts.container).id }, this.dispatch);
    } else if (this.opts.image) {
      this.request({ kind: 'image', id: findImage(source, this.opts.image).id }, this.dispatch);
    } else if (source.images.length === 1 && source.containers.length === 0) {
      this.request({ kind: 'image', id: source.images[0]!.id }, this.dispatch);
    } else if (source.images.length === 0 && source.containers.length === 1) {
      this.request({ kind: 'container', id: source.containers[0]!.id }, this.dispatch);
    }
    // Background: the picker's figures, for what it lists: containers' changes first (what an investigator
    // looks for), then hidden bytes per listed image (intermediate images are analysed when opened).
    if (source.images.length + source.containers.length > 1) {
      // Everything is asked for at once: the walk workers read ahead while the model stacks, in the order the
      // picker lists things (containers first: what an investigator looks for). What the user opens is read
      // before all of it (a higher priority in the walk queue).
      const jobs: Promise<void>[] = [];
      for (const c of source.containers) {
        jobs.push(
          this.container(c.id).then(
            (a) => this.dispatch({ type: 'containerStats', id: c.id, stats: { added: a.counts.added, changed: a.counts.changed, deleted: a.counts.deleted } }),
            () => undefined,
          ),
        );
      }
      for (const img of pickerImages({ images: source.images, showAllImages: false })) {
        jobs.push(
          this.image(img.id, false).then(
            (a) => this.dispatch({ type: 'imageStats', id: img.id, stats: { bytes: a.bytes, hiddenBytes: a.hiddenBytes, layers: a.layers.length } }),
            () => undefined,
          ),
        );
      }
      await Promise.all(jobs);
      if (this.stopped) return;
      // Every figure is in: the progress line goes.
      if (this.ticker) clearInterval(this.ticker);
      if (!this.stopped) this.dispatch({ type: 'progress', progress: null });
    }
  }

  /**
   * Analyse an image once (the model caches it; layers shared with other images are read once). `urgent`: the
   * user is waiting for it: its layers are read before background work.
   */
  image(id: string, urgent: boolean): Promise<ImageAnalysis> {
    const img = this.source!.images.find((i) => i.id === id)!;
    return this.model!.image(img, { priority: urgent ? 10 : 0 });
  }

  container(id: string, urgent = false): Promise<ContainerAnalysis> {
    const c = this.source!.containers.find((x) => x.id === id)!;
    return this.model!.container(c, { priority: urgent ? 10 : 0 });
  }

  request(want: NonNullable<State['want']>, dispatch: (a: Action) => void): void {
    void dispatch;
    const d = this.dispatch;
    switch (want.kind) {
      case 'image':
        this.progress({ phase: 'reading layers', done: 0, total: null }, true);
        this.image(want.id, true).then(
          (analysis) => d({ type: 'imageReady', analysis }),
          (err) => d({ type: 'error', message: errorText(err) }),
        );
        return;
      case 'container':
        this.progress({ phase: 'reading the container layer', done: 0, total: null }, true);
        this.container(want.id, true).then(
          (analysis) => d({ type: 'containerReady', analysis }),
          (err) => d({ type: 'error', message: errorText(err) }),
        );
        return;
      case 'mounts':
        void this.mounts(want.id).then((info) => d({ type: 'mountsLoaded', id: want.id, info }));
        return;
      case 'mountTree':
        void this.mountTree(want.id, want.index).then(
          (analysis) => d({ type: 'mountTreeReady', id: want.id, index: want.index, analysis }),
          (err) => d({ type: 'mountTreeFailed', id: want.id, index: want.index, message: errorText(err) }),
        );
        return;
      case 'logs':
        void this.logs(want.id).then((logs) => d({ type: 'logsLoaded', id: want.id, logs }));
        return;
      case 'view':
        void this.view(want.seq, want.entry, d);
        return;
      case 'viewStop':
        if (this.viewing === want.seq) this.viewing = -1;
        return;
      case 'extract':
        void this.extract(want.entry, want.dir).then((r) => d({ type: 'extractDone', seq: want.seq, ...r }));
        return;
      case 'verify': {
        const run = this.verify(want.analysis, want.layer, want.containerId, (what) => d({ type: 'verifyProgress', seq: want.seq, what })).then(
          (r) => d({ type: 'verifyDone', seq: want.seq, ...r }),
          (err) => d({ type: 'verifyDone', seq: want.seq, ok: false, failed: true, lines: [`could not verify: ${errorText(err)}`], marks: new Map() }),
        );
        this.running.add(run);
        void run.finally(() => this.running.delete(run));
        return;
      }
    }
  }

  /** Work that must finish before the process ends (a verify: its mount is undone when it settles). */
  private readonly running = new Set<Promise<void>>();

  /** Resolves when nothing of ours is mounted any more (runTui waits for it after the UI is gone). */
  async settled(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  /** Verify the stack shown in place; the verdict as lines, and the paths that differ for the tree's marks. */
  private async verify(a: ImageAnalysis, layer: number, containerId: string | null, progress: (what: string) => void): Promise<{ ok: boolean; lines: string[]; marks: Map<string, string> }> {
    const source = this.source!;
    if (this.mountTrees.has(a)) throw new Error("a mount's files are a plain directory, not a stack: nothing to mount");
    const container = containerId ? (source.containers.find((c) => c.id === containerId) ?? null) : null;
    const image = container ? (source.images.find((i) => i.id === container.image) ?? a.image) : a.image;
    const r = await verifyInPlace(source, { image, container, layer }, { onProgress: (w) => progress(safeText(w)) });
    const marks = new Map<string, string>();
    for (const m of r.marks) {
      const what = `${m.kind} (${m.check === 'integrity' ? 'tar-split' : m.against === 'as-built' ? 'kernel vs as built' : 'kernel vs disk'})`;
      marks.set(m.path, marks.has(m.path) ? `${marks.get(m.path)}, ${what}` : what);
    }
    return { ok: r.ok, lines: verdictLines(r, layer), marks };
  }

  /** The viewer request being read (an older one stops at its next chunk). */
  private viewing = -1;
  /** Trees of mounts (volumes, bind sources) handed out: their bytes are in one directory, not in layers. */
  private readonly mountTrees = new WeakSet<ImageAnalysis>();

  /** Where the bytes of an analysis's entries are: an image's (or container stack's) layers, or a mount's directory. */
  private bodies(a: ImageAnalysis): { bodies: ItemBodies; dirs: string[]; close(): void } {
    const source = this.source!;
    if (this.mountTrees.has(a)) {
      const dir = a.image.layers[0]!.location!;
      return { bodies: treeBodies(dir), dirs: [dir], close() {} };
    }
    const reader = contentReader(source, a.image);
    if (!reader) {
      throw new Error(
        `file contents cannot be read from this ${source.kind} source: they are read from data roots, image archive files that ` +
          'are not compressed as a whole, and OCI layout directories (save the image to a file: docker save -o app.tar app:1)',
      );
    }
    return { bodies: imageBodies(reader, a.image), dirs: [], close: () => reader.close?.() };
  }

  /**
   * Read one version of a file for the viewer: the window first (shown at once), then the hash of all of it. A
   * newer request or a closed viewer stops the reading at its next chunk.
   */
  private async view(seq: number, e: EntryRef, d: (a: Action) => void): Promise<void> {
    this.viewing = seq;
    const alive = () => this.viewing === seq && !this.stopped;
    try {
      const at = catTarget(e.analysis, e.path, e.layer);
      const b = this.bodies(e.analysis);
      try {
        const done = await readForViewer(b.bodies.read(at.layer, at.storedAt), {
          window: (content) => d({ type: 'viewerLoaded', seq, from: at.layer, recorded: at.attrs.size, content }),
          progress: (hashed) => d({ type: 'viewerHashed', seq, hashed }),
          alive,
        });
        if (done) d({ type: 'viewerHashed', seq, hashed: done.size, sha256: done.sha256, size: done.size });
      } finally {
        b.close();
      }
    } catch (err) {
      if (alive()) d({ type: 'viewerFailed', seq, message: errorText(err) });
    }
  }

  /**
   * Copy an entry out as `layerscope extract` does: the same plan (the merged view at the entry's layer), the same
   * output rules (OutputDir: refused inside the evidence, nothing overwritten, no symlink followed).
   */
  private async extract(e: EntryRef, typed: string): Promise<{ ok: boolean; lines: string[] }> {
    const given = typed.startsWith('~/') ? os.homedir() + typed.slice(1) : typed;
    const shown = '/' + displayPath(e.path);
    let out: OutputDir | null = null;
    let b: ReturnType<Session['bodies']> | null = null;
    try {
      b = this.bodies(e.analysis);
      const plan = planExtract(e.analysis, [e.path], { layer: e.layer });
      out = OutputDir.prepare(given, { evidence: evidenceLocations(this.source!.location, ...b.dirs), owners: process.getuid?.() === 0 });
      let res;
      try {
        res = await extractItems(plan, b.bodies, out);
      } finally {
        await out.close();
      }
      const lines = [
        `extracted ${shown} as L${e.layer} shows it into ${safeText(out.resolved)}:`,
        `  ${res.files} file${res.files === 1 ? '' : 's'} (${res.bytes.toLocaleString('en')} bytes, ${formatBytes(res.bytes)}), ${res.dirs} dirs, ${res.symlinks} symlinks, ${res.hardlinks} hardlinks`,
      ];
      if (res.existingDirs) lines.push(`  ${res.existingDirs} dir${res.existingDirs === 1 ? '' : 's'} existed already: used as they were`);
      for (const x of res.skipped.slice(0, 5)) lines.push(`  skipped /${displayPath(x.path)}: ${safeMessage(x.reason)}`);
      for (const p of res.problems.slice(0, 5)) lines.push(`  ${p.severity}: ${p.path ? safeMessage(p.path) + ': ' : ''}${safeMessage(p.message)}`);
      for (const w of out.warnings.slice(0, 3)) lines.push(`  warning: ${safeMessage(w)}`);
      const more = Math.max(0, res.skipped.length - 5) + Math.max(0, res.problems.length - 5);
      if (more) lines.push(`  … and ${more} more (layerscope extract lists them all)`);
      return { ok: res.problems.length === 0, lines };
    } catch (err) {
      return { ok: false, lines: [`nothing more extracted: ${errorText(err)}`] };
    } finally {
      await out?.close();
      b?.close();
    }
  }

  /**
   * The logs tab's window: the last LOG_TAB_ENTRIES entries (docker logs --tail), the pieces of a line the engine
   * cut joined again, each line cut at LOG_TAB_LINE bytes for the screen; made safe to print once, here.
   */
  private async logs(id: string): Promise<LogsView> {
    const c = this.source!.containers.find((x) => x.id === id)!;
    let logs: ContainerLogs;
    try {
      logs = containerLogs(c, { tail: LOG_TAB_ENTRIES });
    } catch (err) {
      return { status: 'error', driver: c.inspect?.HostConfig?.LogConfig?.Type ?? null, notes: [errorText(err)], lines: [], truncated: false, problems: [] };
    }
    const lines: LogLine[] = [];
    // The pieces of a line the engine cut, per stream: docker logs writes each stream's pieces one after the
    // other, whatever the other stream printed in between, so a line is joined within its stream.
    type Piece = { stream: 'stdout' | 'stderr'; time: string; parts: Buffer[]; bytes: number };
    const pending = new Map<string, Piece>();
    const flush = (stream: string) => {
      const piece = pending.get(stream);
      if (!piece) return;
      pending.delete(stream);
      const text = Buffer.concat(piece.parts).toString('utf8').replace(/\r?\n$/, '');
      const more = piece.bytes - Math.min(piece.bytes, LOG_TAB_LINE);
      lines.push({ stream: piece.stream, time: piece.time, text: safeText(text) + (more ? ` … (${more} bytes more: layerscope logs prints them)` : '') });
    };
    let count = 0;
    try {
      for await (const e of logs.entries) {
        count++;
        let piece = pending.get(e.stream);
        if (!piece) pending.set(e.stream, (piece = { stream: e.stream, time: entryTime(e), parts: [], bytes: 0 }));
        const room = LOG_TAB_LINE - Math.min(LOG_TAB_LINE, piece.bytes);
        if (room > 0) piece.parts.push(e.line.subarray(0, room));
        piece.bytes += e.line.length;
        if (!e.partial) flush(e.stream);
      }
      flush('stdout');
      flush('stderr');
    } catch (err) {
      logs.problems.push({ severity: 'error', code: 'logs.unreadable', message: errorText(err), path: null });
    }
    const files = logs.files.map((f) => f.name).join(', ');
    return {
      status: 'ready',
      driver: logs.driver,
      notes: [`${safeText(logs.driver)} driver · ${logs.files.length} file${logs.files.length === 1 ? '' : 's'}${files ? `: ${safeText(files)}` : ''}`],
      lines,
      truncated: count >= LOG_TAB_ENTRIES,
      problems: logs.problems.map((p) => `${p.severity} ${safeText(p.code)}: ${safeMessage(p.message)}`),
    };
  }

  private containerMounts(id: string): { c: ContainerInfo; mounts: ContainerMount[] } {
    const c = this.source!.containers.find((x) => x.id === id)!;
    return { c, mounts: mountRows(c).map((m) => containerMount(this.source!, c, m)) };
  }

  /** What the mounts tab adds to docker inspect's fields: sizes (walked now), and what can be browsed. */
  private async mounts(id: string): Promise<MountInfo[]> {
    const access = this.source!.volumes;
    const out: MountInfo[] = [];
    for (const m of this.containerMounts(id).mounts) {
      if (m.unreadable || !access) {
        out.push({ bytes: null, browsable: false, note: safeText(m.unreadable ?? 'no volumes here') });
        continue;
      }
      const sized = await (m.volume ? access.size(m.volume) : access.bindSize(m.bind!)).catch((err) => ({ bytes: null, problems: [{ message: errorText(err) }] }));
      const mountedOver = m.volume?.mount ? `while in use, ${safeText(m.volume.mount.type)} ${safeText(m.volume.mount.device)} was mounted over it` : null;
      out.push({ bytes: sized.bytes, browsable: true, note: sized.bytes === null ? safeText(sized.problems[0]?.message ?? 'unreadable') : mountedOver });
    }
    return out;
  }

  private mountTree(id: string, index: number): Promise<ImageAnalysis> {
    const { c, mounts } = this.containerMounts(id);
    const m = mounts[index];
    if (!m) return Promise.reject(new Error('no such mount'));
    return mountTreeAnalysis(this.source!, m, `${m.type} at ${m.destination} of ${c.name}`).then((a) => {
      this.mountTrees.add(a);
      return a;
    });
  }

  stop(): void {
    this.stopped = true;
    this.viewing = -1;
    if (this.ticker) clearInterval(this.ticker);
    void this.source?.close().catch(() => {});
  }
}

/** The verdict of a verify in place, as the popup shows it. */
export function verdictLines(r: InPlaceReport, layer: number): string[] {
  const out: string[] = [];
  const st = r.stack.result;
  const label = safeText(r.stack.label);
  if (!r.mount.ran) out.push(`mount check of ${label}: skipped: ${safeMessage(r.mount.skipped ?? 'not run')}`);
  else if (!st) out.push(`mount check of ${label}: not run`);
  else {
    const n = st.differences.length + (st.asBuilt?.differences.length ?? 0);
    const how = st.mode === 'userns' ? ', in a user namespace' : '';
    const what = st.status === 'agree' ? `the kernel's view agrees with ours (${st.entries.kernel.toLocaleString('en')} entries${st.asBuilt ? ', and with the image as built' : ''})` : st.status === 'disagree' ? `${n} difference${n === 1 ? '' : 's'} between the kernel's view and ours` : `${st.status}${st.message ? `: ${safeMessage(st.message)}` : ''}`;
    out.push(`mount check of ${label} (read-only overlay${how}): ${what}`);
  }
  for (const note of [...r.mount.notes, ...(st?.notes ?? [])].slice(0, 3)) out.push(`  ${safeMessage(note)}`);
  const i = r.integrity;
  out.push(`integrity of L${layer} (tar-split): ${i.status === 'skipped' ? `skipped: ${safeMessage(i.skipped ?? '')}` : i.status === 'ok' ? 'ok: the layer reassembles to its diffID, files match their headers' : `${i.status}${i.message ? `: ${safeMessage(i.message)}` : ''}`}`);
  out.push('');
  out.push(r.ok ? 'OK: nothing differs' : r.marks.length ? `FAILED: ${r.marks.length} difference${r.marks.length === 1 ? '' : 's'}, marked ! in the tree:` : r.mount.ran || i.ran ? 'FAILED: see above' : 'nothing could be checked here');
  for (const m of r.marks.slice(0, 12)) out.push(`  ! /${displayPath(m.path)}  ${m.kind}: ${safeMessage(m.message)}`);
  if (r.marks.length > 12) out.push(`  … and ${r.marks.length - 12} more (layerscope verify lists them all)`);
  return out;
}

export function errorText(err: unknown): string {
  return safeText(err instanceof Error ? err.message : String(err));
}
