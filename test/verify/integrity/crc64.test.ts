import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Crc64, crc64, crc64Reference } from '../../../src/core/verify/crc64.js';

test('crc64 ISO check value matches Go hash/crc64', () => {
  assert.equal(crc64(Buffer.from('123456789')).toString('hex'), 'b90956c775a41001');
  assert.equal(crc64(new Uint8Array(0)).toString('hex'), '0000000000000000');
});

test('crc64 matches payloads tar-split wrote on a real Docker 20.10 layer', () => {
  // From layerdb tar-split.json.gz: a 1-byte file "b" and an 11-byte "hello\nmore\n".
  assert.equal(crc64(Buffer.from('b')).toString('base64'), 'NvAAAAAAAAA=');
  assert.equal(crc64(Buffer.from('hello\nmore\n')).toString('base64'), '6+MPVz8BTD4=');
});

test('slicing-by-8 equals the bit-by-bit reference for every length and split', () => {
  for (let n = 0; n < 80; n++) {
    const data = randomBytes(n * 3 + (n % 5));
    const want = crc64Reference(data);
    assert.equal(crc64(data).readBigUInt64BE(), want, `length ${data.length}`);
    // Streaming in uneven pieces (including unaligned subarrays) gives the same value.
    const c = new Crc64();
    for (let i = 0; i < data.length; i += 1 + (i % 7)) c.update(data.subarray(i, i + 1 + (i % 7)));
    assert.equal(c.digest().readBigUInt64BE(), want, `streamed length ${data.length}`);
  }
});

test('the word loop equals the reference at every alignment and tail length, and equals() agrees with digest()', () => {
  const base = Buffer.allocUnsafeSlow(4096 + 16);
  for (let i = 0; i < base.length; i++) base[i] = (i * 2654435761) >>> 13;
  for (let off = 0; off < 8; off++) {
    for (const len of [15, 16, 17, 23, 24, 31, 33, 511, 512, 513, 4096]) {
      const data = base.subarray(off, off + len);
      const want = crc64Reference(data);
      const c = new Crc64().update(data);
      assert.equal(c.digest().readBigUInt64BE(), want, `offset ${off} length ${len}`);
      assert.equal(c.equals(c.digest()), true);
      const other = c.digest();
      other[off] ^= 1;
      assert.equal(c.equals(other), false);
    }
  }
  // A view over a SharedArrayBuffer (the worker's read buffers) is read the same way.
  const shared = new Uint8Array(new SharedArrayBuffer(1000));
  shared.set(base.subarray(0, 1000));
  assert.equal(crc64(shared.subarray(3)).readBigUInt64BE(), crc64Reference(base.subarray(3, 1000)));
});
