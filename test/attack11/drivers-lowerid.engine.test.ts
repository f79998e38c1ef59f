/**
 * Red team (attack11): the first overlay driver's containers. A container's RW and init layers lie over the tree
 * their `lower-id` names; the engine (moby graphdriver/overlay Get) mounts whatever it names. Only an image
 * layer's lower-id is checked against its chain (checkLayer); a container's may name any layer with a root, e.g.
 * the image's base layer: the engine then shows the container a file system without the image's upper layers,
 * while layerscope reads the container's changes over that lower (so `changes` looks normal) and its mount check
 * stacks the image's top tree. The lower-id must be checked against the container's parent (layerdb/mounts/<id>/
 * parent → that layer's cache-id): a problem naming the file.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { getEngine } from '../support/engine.js';
import { loadFrom, startDriverEngineFor } from '../support/driver-engines.js';
import { IMAGES } from '../support/fixtures-manifest.mjs';
import { openSource } from '../../src/core/sources/open.js';
import { EXIT } from '../../src/cli/command.js';
import { verifyCommand } from '../../src/cli/commands/verify.js';
import { runCmd } from '../workflows/helpers.js';

const NAME = 'ls-a11-lowerid';

test("overlay driver: a container whose lower-id names another layer (the image's base) is a problem naming that lower-id", { timeout: 900_000 }, async (t) => {
  const src = getEngine(t, 'docker20');
  if (!src) return;
  const eng = await startDriverEngineFor(t, 'overlay');
  if (!eng) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a11-lowerid-'));
  try {
    await loadFrom(src, eng, [IMAGES.bloat]);
    await eng.docker(['create', '--name', NAME, IMAGES.bloat]);
    const root = path.join(tmp, 'root');
    execFileSync('cp', ['-a', eng.dataRoot, root]);
    await eng.stop();

    const s = await openSource(root);
    let mountId: string;
    let initId: string | null;
    try {
      const c = s.containers.find((x) => x.name === NAME)!;
      assert.ok(c && c.mountId, 'the container and its RW layer are read');
      assert.deepEqual(s.problems.filter((p) => p.severity === 'error'), [], 'an untouched copy reads without errors');
      const img = s.images.find((i) => i.tags.includes(IMAGES.bloat))!;
      // The base layer's id (overlay/<id>/root is its dir).
      const base = path.basename(path.dirname(img.layers[0]!.location!));
      mountId = c.mountId;
      initId = c.initId;
      for (const id of [mountId, initId]) if (id) fs.writeFileSync(path.join(root, 'overlay', id, 'lower-id'), base);
    } finally {
      await s.close();
    }

    const s2 = await openSource(root);
    try {
      const named = s2.problems.filter((p) => p.severity === 'error' && (p.path ?? '').endsWith(`${mountId}/lower-id`));
      assert.ok(named.length > 0, `no error names overlay/${mountId}/lower-id, which now points at the image's base layer: ${JSON.stringify(s2.problems).slice(0, 1500)}`);
    } finally {
      await s2.close();
    }
    const r = await runCmd(verifyCommand, [root, '--container', NAME, '--no-mount', '--format', 'json']);
    assert.notEqual(r.code, EXIT.ok, `verify said OK of a container whose lower-id was re-pointed: ${r.stdout.slice(0, 1500)}`);
  } finally {
    await eng.stop().catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
