/**
 * Red team (attack11): a data root holding a store on a driver layerscope cannot read (devicemapper, zfs,
 * windowsfilter) and a vfs store. moby picks a "prior" driver (a non-empty `<driver>/`, vfs never counts:
 * daemon/graphdriver HasPriorDriver / scanPriorDrivers) before vfs, so an engine on this root uses the
 * devicemapper store and its images. layerscope reads the vfs store as the data root's, calls it empty (exit 0)
 * and only warns that a devicemapper store is "also" there: the report is about a store the engine does not
 * use, and says nothing is wrong. Wanted: not exit 0 (as for a devicemapper-only root: exit 3 naming the driver),
 * or at least an error saying the engine uses the devicemapper store. Failed when written; fixed in attack11
 * (open.ts: the note is an error when the store read is vfs and the unread one is on a prior driver).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { classicRoot, cli, hex, writeTree } from '../support/roots.js';

for (const driver of ['devicemapper', 'zfs'] as const) {
  test(`a data root with a ${driver} store (what moby uses: a prior driver) and a vfs store is not reported OK from the vfs store`, async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a11p-'));
    try {
      const layers = driver === 'devicemapper' ? 'devicemapper/metadata' : 'zfs/graph';
      writeTree(root, {
        ...classicRoot('vfs'),
        ...classicRoot(driver),
        [`vfs/dir/${hex('1')}/etc/f`]: 'x',
        [`${layers}/${hex('2')}`]: driver === 'devicemapper' ? '{}' : null,
        [`image/${driver}/imagedb/content/sha256/${hex('b')}`]: '{"rootfs":{"type":"layers","diff_ids":[]}}',
      });
      const r = await cli(['report', root, '--format', 'json']);
      const doc = r.stdout ? (JSON.parse(r.stdout) as { problems?: { severity: string; message: string }[] }) : {};
      const saysEngineUses = (doc.problems ?? []).some((p) => p.severity === 'error' && p.message.includes(driver));
      assert.ok(r.code !== 0 || saysEngineUses, `exit ${r.code} and no error about the ${driver} store the engine uses: ${r.stdout.slice(0, 800)} ${r.stderr.slice(0, 400)}`);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
}
