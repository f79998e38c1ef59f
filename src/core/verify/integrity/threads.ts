import { Worker } from 'node:worker_threads';

/**
 * The integrity check's worker thread, which reads file bodies (open, read, CRC-64, SHA-256): one per process,
 * shared by every layer verified, started on first use, not keeping the process alive while idle. It runs
 * worker.ts; a layer opens a session on it (messages carry the session id). If it fails (cannot start,
 * crashes, is killed), its sessions get a ThreadError and no later layer uses it: the caller verifies the layer
 * again on its own thread.
 */

/** A worker thread failed: the layer is to be verified again without threads. */
export class ThreadError extends Error {}

export type Role = 'bodies';

export interface SessionHandler {
  /** Every message for the session; returns true when it was the session's last. */
  message(m: { id: number; op: string }): boolean;
  fail(err: ThreadError): void;
}

/** Why threads are not used any more (one failed in this process), or null. */
let broken: string | null = null;

export function threadsUsable(): boolean {
  return broken === null;
}

class IntegrityThread {
  private readonly worker: Worker;
  private readonly sessions = new Map<number, SessionHandler>();
  private nextId = 1;

  constructor(private readonly role: Role) {
    this.worker = startWorker();
    this.worker.unref();
    this.worker.on('message', (m: { id: number; op: string }) => {
      const s = this.sessions.get(m.id);
      if (!s) return;
      let last: boolean;
      try {
        last = s.message(m);
      } catch (err) {
        last = true;
        s.fail(new ThreadError(`the ${this.role} thread's message could not be taken: ${(err as Error).message}`));
      }
      if (last) this.drop(m.id);
    });
    const fail = (err: ThreadError) => {
      broken ??= err.message;
      if (threads[this.role] === this) threads[this.role] = null;
      const all = [...this.sessions.values()];
      this.sessions.clear();
      for (const s of all) s.fail(err);
    };
    this.worker.on('error', (err) => fail(new ThreadError(`the ${this.role} thread failed: ${(err as Error).message}`)));
    this.worker.on('exit', (code) => fail(new ThreadError(`the ${this.role} thread exited (code ${code})`)));
  }

  open(handler: SessionHandler): number {
    const id = this.nextId++;
    this.sessions.set(id, handler);
    this.worker.ref();
    return id;
  }

  post<T extends { id: number; op: string }>(m: T, transfer?: ArrayBuffer[]): void {
    this.worker.postMessage(m, transfer);
  }

  /** The session is over (its last message came, or its owner gave up on it). */
  drop(id: number): void {
    if (this.sessions.delete(id) && this.sessions.size === 0) this.worker.unref();
  }
}

const threads: Record<Role, IntegrityThread | null> = { bodies: null };

export function integrityThread(role: Role): IntegrityThread {
  return (threads[role] ??= new IntegrityThread(role));
}

export type { IntegrityThread };

/**
 * The worker script: compiled JS beside this file, or, when running from the TypeScript sources (tests), the
 * .ts file loaded through tsx (a worker does not inherit the parent's loader hooks).
 */
function startWorker(): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  // Its heap holds a few batches and a layer's body findings; hostile evidence can only crash it, which makes
  // the layer be verified again without threads.
  const resourceLimits = { maxOldGenerationSizeMb: 1024 };
  if (!fromSource) return new Worker(new URL('./worker.js', import.meta.url), { resourceLimits });
  const target = new URL('./worker.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(target)}); });`, { eval: true, resourceLimits });
}
