import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { Job, Reply } from './protocol.js';

/**
 * The walk workers: one per core (at most four: the walk is bound by syscalls, and two workers already keep a
 * disk's cache busy). Jobs wait in a queue ordered by priority (higher first), then by arrival; a layer dir's
 * listing job feeds stat jobs for its chunks, which any free worker takes, so that even one big layer keeps
 * every core busy. Workers are started on first use, and do not keep the process alive while idle.
 */

type JobBody = Job extends infer J ? (J extends { id: number } ? Omit<J, 'id'> : never) : never;

interface Pending {
  job: Job;
  priority: number;
  seq: number;
  /** What the job is part of (a layer dir), so that a user waiting for it can move it up the queue. */
  group: string | null;
  /** Called with each reply; returns true when the job is finished. */
  onReply: (r: Reply) => boolean;
}

interface Slot {
  worker: Worker;
  job: Pending | null;
  /** Set while idle: the worker is stopped when it fires (its heap is memory a long TUI session gets back). */
  idleTimer: NodeJS.Timeout | null;
}

/** A worker idle this long is stopped; the next job starts one again (~30 ms). */
const IDLE_MS = 10_000;

let seqCounter = 0;

export class WalkPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  /** Jobs done, per kind (tests prove that each layer is read once). */
  readonly stats = { list: 0, stat: 0, size: 0 };

  constructor(readonly size = Number(process.env.LAYERSCOPE_WALK_WORKERS) || Math.max(1, Math.min(4, availableParallelism()))) {}

  /** Groups raised by `raise`, and to what priority: their later jobs come in at it too. */
  private readonly raised = new Map<string, number>();

  /** Queue a job. `onReply` sees every reply and says when the job is done. */
  submit(body: JobBody, onReply: (r: Reply) => boolean, priority = 0, group: string | null = null): void {
    if (this.closed) throw new Error('walk pool is closed');
    const job = { ...body, id: this.nextId++ } as Job;
    const p: Pending = { job, priority: Math.max(priority, group === null ? priority : this.raised.get(group) ?? priority), seq: seqCounter++, onReply, group };
    this.enqueue(p);
    this.stats[body.op]++;
    this.pump();
  }

  /** Keep the queue sorted: priority descending, then arrival. */
  private enqueue(p: Pending): void {
    let i = this.queue.length;
    while (i > 0 && (this.queue[i - 1]!.priority < p.priority || (this.queue[i - 1]!.priority === p.priority && this.queue[i - 1]!.seq > p.seq))) i--;
    this.queue.splice(i, 0, p);
  }

  /** Move a group's queued jobs (and those it submits later) up to `priority`: someone is waiting for them. */
  raise(group: string, priority: number): void {
    if ((this.raised.get(group) ?? -Infinity) >= priority) return;
    this.raised.set(group, priority);
    const moved = this.queue.filter((p) => p.group === group && p.priority < priority);
    if (!moved.length) return;
    for (const p of moved) this.queue.splice(this.queue.indexOf(p), 1);
    for (const p of moved) {
      p.priority = priority;
      this.enqueue(p);
    }
  }

  /** One-reply jobs as a promise. */
  run(body: JobBody, priority = 0): Promise<Reply> {
    return new Promise((resolve) =>
      this.submit(
        body,
        (r) => {
          resolve(r);
          return true;
        },
        priority,
      ),
    );
  }

  private pump(): void {
    while (this.queue.length) {
      let slot = this.slots.find((s) => s.job === null);
      if (!slot) {
        if (this.slots.length >= this.size) return;
        slot = this.spawn();
      }
      const p = this.queue.shift()!;
      slot.job = p;
      if (slot.idleTimer) clearTimeout(slot.idleTimer);
      slot.idleTimer = null;
      slot.worker.ref();
      slot.worker.postMessage(p.job);
    }
  }

  private spawn(): Slot {
    const worker = startWorker();
    const slot: Slot = { worker, job: null, idleTimer: null };
    worker.on('message', (r: Reply) => {
      const p = slot.job;
      if (!p || r.id !== p.job.id) return;
      let done: boolean;
      try {
        done = p.onReply(r);
      } catch {
        done = true;
      }
      if (done) {
        slot.job = null;
        if (!this.queue.length) worker.unref();
        this.pump();
        if (slot.job === null) {
          slot.idleTimer = setTimeout(() => this.retire(slot), IDLE_MS);
          slot.idleTimer.unref();
        }
      }
    });
    const fail = (message: string) => {
      const p = slot.job;
      slot.job = null;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      if (p) p.onReply({ id: p.job.id, kind: 'error', code: 'walk.worker-failed', message });
      if (!this.closed) this.pump();
    };
    worker.on('error', (err) => fail(`the walk worker failed: ${(err as Error).message}`));
    worker.on('exit', (code) => {
      if (this.slots.includes(slot)) fail(`the walk worker exited (code ${code})`);
    });
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  private retire(slot: Slot): void {
    if (slot.job !== null) return;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    void slot.worker.terminate();
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

/**
 * The worker script: compiled JS beside this file, or, when running from the TypeScript sources (tests), the
 * .ts file loaded through tsx (a worker does not inherit the parent's loader hooks).
 */
function startWorker(): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  // A worker's heap is bounded: hostile evidence can only crash the worker, which fails the job with a problem.
  const resourceLimits = { maxOldGenerationSizeMb: 2048, maxYoungGenerationSizeMb: Number(process.env.LS_YG) || undefined };
  if (!fromSource) return new Worker(new URL('./worker.js', import.meta.url), { resourceLimits });
  const target = new URL('./worker.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(target)}); });`, { eval: true, resourceLimits });
}

let shared: WalkPool | null = null;

/** The process-wide pool. */
export function walkPool(): WalkPool {
  return (shared ??= new WalkPool());
}
