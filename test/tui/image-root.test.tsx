/**
 * The picker of a source of several stores (--image-root): each store's images and containers under a heading
 * naming the store, in 80x24; Enter opens the row under the cursor (the headings are not rows of the cursor).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialState, pickerImages, reduce } from '../../src/tui/state/index.js';
import { assertNoControlChars, drive, K, matchGolden } from './harness.js';
import { bloatParts, changes, container, dir, fakeSource, file, image } from './fixture.js';
import type { StoreRef } from '../../src/core/model/types.js';

const DOCKER: StoreRef = { label: 'docker', location: '/mnt/disk/data/docker', relative: 'data/docker', kind: 'docker-root' };
const ALICE: StoreRef = { label: 'alice:docker', location: '/mnt/disk/home/alice/.local/share/docker', relative: 'home/alice/.local/share/docker', kind: 'docker-root' };
const CTRD: StoreRef = { label: 'containerd', location: '/mnt/disk/var/lib/containerd', relative: 'var/lib/containerd', kind: 'containerd-root' };

test('image root: the picker groups images and containers under their stores, and fits 80x24', async () => {
  const bloat = bloatParts();
  bloat.info.store = DOCKER;
  const other = image('other:2', ['/bin/sh -c #(nop) ADD x'], 'sha256:' + 'e'.repeat(64));
  other.store = ALICE;
  const third = image('aaa-first-by-name:1', ['/bin/sh -c #(nop) ADD x'], 'sha256:' + 'd'.repeat(64));
  third.store = CTRD;
  const web = container('web-1', bloat.info.id, { store: DOCKER });
  const db = container('db', other.id, { store: ALICE, imageRef: 'other:2', state: 'running', pid: 7, exitCode: null });
  const src = fakeSource(
    [bloat, { info: other, changes: [changes([dir('x'), file('x/y', 1234)])] }, { info: third, changes: [changes([dir('x')])] }],
    [
      { info: web, rw: changes([dir('data'), file('data/a', 1)]) },
      { info: db, rw: changes([dir('var'), file('var/b', 2)]) },
    ],
  );
  let s = reduce(initialState(80, 24), { type: 'sourceOpened', location: 'image-root:/mnt/disk', images: src.images, containers: src.containers });
  s = reduce(s, { type: 'imageStats', id: bloat.info.id, stats: { bytes: 4150000, hiddenBytes: 3150000, layers: 6 } });
  s = reduce(s, { type: 'imageStats', id: other.id, stats: { bytes: 1234, hiddenBytes: 0, layers: 1 } });
  s = reduce(s, { type: 'containerStats', id: web.id, stats: { added: 2, changed: 0, deleted: 0 } });
  s = reduce(s, { type: 'containerStats', id: db.id, stats: { added: 2, changed: 0, deleted: 0 } });
  // Images in the order of their stores (by place on the disk), then by name within a store.
  assert.deepEqual(pickerImages(s).map((i) => i.tags[0]), ['bloat:1', 'other:2', 'aaa-first-by-name:1']);
  const d = await drive(s);
  const f = d.frame();
  const lines = f.split('\n');
  assert.ok(lines.every((l) => [...l].length <= 80), 'every line fits 80 columns');
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  assert.ok(at(/▸ docker +\/data\/docker/) < at(/bloat:1/));
  assert.ok(at(/bloat:1/) < at(/▸ alice:docker +\/home\/alice\/\.local\/share\/docker/));
  assert.ok(at(/▸ alice:docker/) < at(/ other:2 /));
  assert.ok(at(/▸ containerd +\/var\/lib\/containerd/) < at(/aaa-first-by-name:1/));
  // Containers: each under its store again.
  const cHead = at(/Container +Image/);
  assert.ok(cHead > 0);
  const after = lines.slice(cHead);
  assert.ok(after.findIndex((l) => /▸ docker/.test(l)) < after.findIndex((l) => / web-1 /.test(l)));
  assert.ok(after.findIndex((l) => /▸ alice:docker/.test(l)) < after.findIndex((l) => / db /.test(l)));
  assertNoControlChars(f);
  matchGolden('image-root-picker-80x24', f);
  // The cursor walks rows, never headings: two downs select the third image, then the first container.
  await d.press(K.down, K.down);
  assert.match(d.frame(), /▶aaa-first-by-name:1/);
  await d.press(K.down, K.down);
  assert.match(d.frame(), /▶db /);
  d.unmount();
});
