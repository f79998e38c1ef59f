/**
 * The integrity check's worker thread (threads.ts starts it): one BodyHasher per layer session; a session's
 * batches run in the order they came, one after the other, and each is acknowledged when done, which frees its
 * slot of the session's shared buffer (bodies.ts).
 */
import { parentPort } from 'node:worker_threads';
import { batchBytes, BodyHasher, runBatch, type FromWorker, type ToWorker } from './bodies.js';

interface Bodies {
  hasher: BodyHasher;
  shared: SharedArrayBuffer;
  chain: Promise<void>;
  error: string | null;
}

const port = parentPort!;
const bodies = new Map<number, Bodies>();
const post = (m: FromWorker) => port.postMessage(m);

port.on('message', (m: ToWorker) => {
  switch (m.op) {
    case 'bodies':
      bodies.set(m.id, { hasher: new BodyHasher(m.diffDir), shared: m.shared, chain: Promise.resolve(), error: null });
      return;
    case 'batch': {
      const s = bodies.get(m.id);
      if (!s) return;
      s.chain = s.chain.then(async () => {
        if (s.error === null) {
          try {
            await runBatch(s.hasher, batchBytes(m, s.shared));
          } catch (err) {
            s.error = (err as Error).message;
          }
        }
        post({ op: 'ack', id: m.id, slot: m.slot });
      });
      return;
    }
    case 'end': {
      const s = bodies.get(m.id);
      if (!s) return;
      s.chain = s.chain.then(() => {
        bodies.delete(m.id);
        const r = s.hasher.finish();
        if (s.error !== null) post({ op: 'error', id: m.id, message: `the bodies thread failed: ${s.error}` });
        else post({ op: 'result', id: m.id, result: r });
      });
      return;
    }
  }
});
