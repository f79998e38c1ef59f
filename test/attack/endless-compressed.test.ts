/**
 * ATTACK: an endless compressed stream on stdin that decompresses to nothing. /dev/zero on stdin stops 4 MiB past
 * the end-of-archive marker, and a stream of endless members stops at 200,000 headers; both bounds count what the
 * tar reader sees. A gzip header followed by empty stored deflate blocks (5 bytes each, forever), or an endless
 * run of empty zstd skippable frames, gives the tar reader no byte at all: the decompressor's guard
 * (src/core/sources/tar/decompress.ts, guard) only looks at output, and nothing bounds the input. `report -`
 * reads until it is killed. (With zstd, the feeder also adds a 'close' listener on every 'drain' without removing
 * it: MaxListenersExceededWarning, listeners growing with the input.)
 * Claim broken: "endless streams such as /dev/zero on stdin ... memory and time stay bounded".
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { assertBuilt, runCli } from '../sources/archive/hostile-helpers.js';

before(assertBuilt);

function endless(head: Buffer, unit: Buffer): () => AsyncIterable<Buffer> {
  const chunk = Buffer.concat(Array(100_000).fill(unit));
  return async function* () {
    yield head;
    for (;;) yield chunk;
  };
}

const CASES: [string, Buffer, Buffer][] = [
  ['gzip: empty stored blocks', Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]), Buffer.from([0, 0, 0, 0xff, 0xff])],
  ['zstd: empty skippable frames', Buffer.alloc(0), Buffer.from([0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0])],
];

for (const [name, head, unit] of CASES) {
  test(`endless ${name} on stdin: stops by itself within 60 s, exit 3 naming the cause`, { timeout: 120_000 }, async () => {
    const r = await runCli(['report', '-'], { stdin: endless(head, unit), timeoutMs: 60_000 });
    assert.equal(r.signal, null, `still reading after ${r.ms} ms (killed)`);
    assert.equal(r.code, 3, r.stderr);
  });
}
