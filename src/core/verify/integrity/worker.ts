/**
 * The integrity check's worker thread (threads.ts starts it): one BodyHasher per layer session; a session's
 * batches run in the order they came, one after the other, and a batch's buffer goes back to the sender for
 * reuse (bodies.ts).
 */
import { parentPort } from 'node:worker_threads';
import { BodyHasher, runBatch, type FromWorker, type ToWorker } from './bodies.js';

interface Bodies {
  hasher: BodyHasher;
  chain: Promise<void>;
  error: string | null;
}

const port = parentPort!;
const bodies = new Map<number, Bodies>();
const post = (m: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);

port.on('message', (m: ToWorker) => {
  switch (m.op) {
    case 'bodies':
      bodies.set(m.id, { hasher: new BodyHasher(m.diffDir), chain: Promise.resolve(), error: null });
      return;
    case 'batch': {
      const s = bodies.get(m.id);
      if (!s) return;
      s.chain = s.chain.then(async () => {
        if (s.error === null) {
          try {
            await runBatch(s.hasher, m.buf, m.len);
          } catch (err) {
            s.error = (err as Error).message;
          }
        }
        if (m.reuse) post({ op: 'ack', id: m.id, buf: m.buf }, [m.buf]);
        else post({ op: 'ack', id: m.id, buf: null });
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
