/**
 * A containers/storage store made hostile, on copies of a real podman store: metadata that is not JSON or too
 * big, a parent chain with a cycle or a missing or path-like parent, images pointing at missing layers, a
 * symlinked layer dir. Each is a problem naming the file, a non-zero exit, the rest of the store still listed,
 * nothing followed and nothing written. And CRI-O's record metadata (there is no CRI-O here: a copy of the podman
 * store whose containers.json is rewritten as CRI-O writes it, its libpod state removed).
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { copyTree, hashTree } from '../../support/engine.js';
import { PODMAN, podmanStore, type PodmanStore } from '../../support/podman.js';
import { runCmd } from '../../workflows/helpers.js';
import { openSource } from '../../../src/core/sources/open.js';
import { EXIT } from '../../../src/cli/command.js';
import { reportCommand } from '../../../src/cli/commands/analysis.js';

type Json = Record<string, unknown> & { id: string };

const CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../dist/cli/main.js');

async function withCopy(store: PodmanStore, fn: (root: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-pm-hostile-'));
  try {
    await copyTree(store.storage, path.join(dir, 'storage'));
    await fn(path.join(dir, 'storage'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const readJson = (root: string, ...p: string[]) => JSON.parse(fs.readFileSync(path.join(root, ...p), 'utf8')) as Json[];
const writeJson = (root: string, v: unknown, ...p: string[]) => fs.writeFileSync(path.join(root, ...p), JSON.stringify(v));

/** `report --format json` of a broken copy: exit non-zero, a problem of `code` naming `file`, nothing written. */
async function brokenReport(root: string, code: string, file: string): Promise<{ images: { tags: string[] }[]; containers: { name: string }[] }> {
  const before = await hashTree(root);
  const r = await runCmd(reportCommand, [root, '--format', 'json']);
  assert.notEqual(r.code, EXIT.ok, `exit non-zero (${code})`);
  const doc = JSON.parse(r.stdout);
  const p = (doc.problems as { code: string; path: string | null; message: string }[]).find((x) => x.code === code);
  assert.ok(p, `a ${code} problem; got ${JSON.stringify(doc.problems.map((x: { code: string }) => x.code))}`);
  assert.equal(p.path, path.join(root, file), `${code} names ${file}`);
  assert.equal(await hashTree(root), before, 'nothing written');
  return doc;
}

test('containers/storage: hostile metadata on copies of a podman store', { timeout: 300_000 }, async (t: TestContext) => {
  const store = await podmanStore(t, 'rootful');
  if (!store) return;
  try {
    const layersFile = path.join('overlay-layers', 'layers.json');
    const imagesFile = path.join('overlay-images', 'images.json');
    const s = await openSource(store.storage);
    const app = s.images.find((i) => i.tags.includes(PODMAN.app))!;
    const bud = s.images.find((i) => i.tags.includes(PODMAN.bud))!;
    await s.close();
    const appTop = app.layers[app.layers.length - 1]!.cacheId!;
    const appBase = app.layers[0]!.cacheId!;

    await t.test('layers.json that is not JSON: a problem naming it, images and containers still listed', () =>
      withCopy(store, async (root) => {
        fs.writeFileSync(path.join(root, layersFile), '{"not": json');
        const doc = await brokenReport(root, 'layers.invalid-json', layersFile);
        assert.ok(doc.images.some((i) => i.tags.includes(PODMAN.app)), 'images still listed');
        assert.ok(doc.containers.some((c) => c.name === PODMAN.exited), 'containers still listed');
      }));

    await t.test('layers.json past the metadata bound: not read, a problem naming it', () =>
      withCopy(store, async (root) => {
        const size = fs.statSync(path.join(root, layersFile)).size;
        const r = await execa('node', [CLI, 'report', root, '--format', 'json'], { reject: false, env: { LAYERSCOPE_TEST_LIMITS: JSON.stringify({ storeMetadataBytes: size - 1 }) } });
        assert.notEqual(r.exitCode, 0);
        const doc = JSON.parse(r.stdout);
        const p = doc.problems.find((x: { code: string }) => x.code === 'evidence.too-large');
        assert.ok(p, r.stdout.slice(0, 500));
        assert.equal(p.path, path.join(root, layersFile));
      }));

    await t.test('a parent cycle: cut, a problem naming layers.json, the other images whole', () =>
      withCopy(store, async (root) => {
        const layers = readJson(root, layersFile);
        layers.find((l) => l.id === appBase)!.parent = appTop;
        writeJson(root, layers, layersFile);
        const doc = await brokenReport(root, 'layers.cycle', layersFile);
        assert.ok(doc.images.some((i) => i.tags.includes(PODMAN.app)));
      }));

    await t.test('a parent naming a missing id, and one naming a path: problems, never a path', () =>
      withCopy(store, async (root) => {
        const layers = readJson(root, layersFile);
        layers.find((l) => l.id === appTop)!.parent = 'f'.repeat(64);
        layers.push({ id: '../../etc', parent: appBase });
        layers.find((l) => l.id === bud.layers[bud.layers.length - 1]!.cacheId)!.parent = '../../../etc';
        writeJson(root, layers, layersFile);
        await brokenReport(root, 'layers.missing', layersFile);
        await brokenReport(root, 'layers.bad-id', layersFile);
        await brokenReport(root, 'layers.bad-parent', layersFile);
      }));

    await t.test('images.json pointing at a missing layer or at a path', () =>
      withCopy(store, async (root) => {
        const images = readJson(root, imagesFile);
        images.find((i) => i.id === app.id.slice(7))!.layer = 'e'.repeat(64);
        images.find((i) => i.id === bud.id.slice(7))!.layer = '../../../../etc';
        writeJson(root, images, imagesFile);
        const doc = await brokenReport(root, 'images.layer.missing', imagesFile);
        await brokenReport(root, 'images.bad-layer', imagesFile);
        assert.ok(doc.images.some((i) => i.tags.includes(PODMAN.base)), 'the base image still listed');
      }));

    await t.test('a symlinked overlay/<id>/diff is never followed', () =>
      withCopy(store, async (root) => {
        const diff = path.join(root, 'overlay', appTop, 'diff');
        fs.rmSync(diff, { recursive: true });
        fs.symlinkSync('/etc', diff);
        const doc = await brokenReport(root, 'overlay.diff.missing', path.join('overlay', appTop, 'diff'));
        assert.ok(!JSON.stringify(doc).includes('passwd'), 'nothing of /etc read');
      }));

    await t.test("podman's state database damaged, containers.json not JSON: problems naming them, images still listed", () =>
      withCopy(store, async (root) => {
        fs.writeFileSync(path.join(root, 'libpod', 'bolt_state.db'), Buffer.alloc(16384, 7));
        const doc = await brokenReport(root, 'libpod.state.unreadable', path.join('libpod', 'bolt_state.db'));
        const exited = doc.containers.find((c) => c.name === PODMAN.exited) as { state: string } | undefined;
        assert.equal(exited?.state, 'created', 'listed without the state podman kept');
        fs.writeFileSync(path.join(root, 'overlay-containers', 'containers.json'), '[{"id": 1},');
        const doc2 = await brokenReport(root, 'containers.invalid-json', path.join('overlay-containers', 'containers.json'));
        assert.ok(doc2.images.some((i) => i.tags.includes(PODMAN.app)));
        assert.equal(doc2.containers.length, 0);
      }));

    await t.test("CRI-O's record metadata: pod, namespace and container name", () =>
      withCopy(store, async (root) => {
        const ctrs = readJson(root, 'overlay-containers', 'containers.json');
        const sandbox = ctrs.find((c) => (c.names as string[])[0] === PODMAN.created)!;
        const app = ctrs.find((c) => (c.names as string[])[0] === PODMAN.exited)!;
        // As cri-o's internal/storage writes them (RuntimeContainerMetadata): the pod's own record carries the
        // namespace; a container's names are k8s_<container>_<pod>_<namespace>_<uid>_<attempt>.
        sandbox.names = ['k8s_POD_web_prod_0123_0'];
        sandbox.metadata = JSON.stringify({ 'pod-name': 'k8s_POD_web_prod_0123_0', 'pod-id': sandbox.id, 'image-name': PODMAN.app, 'image-id': sandbox.image, name: 'k8s_POD_web_prod_0123_0', 'metadata-name': 'web', uid: '0123', namespace: 'prod', 'created-at': 1, pod: true });
        app.names = ['k8s_app_web_prod_0123_0'];
        app.metadata = JSON.stringify({ 'pod-name': 'k8s_POD_web_prod_0123_0', 'pod-id': sandbox.id, 'image-name': PODMAN.app, 'image-id': app.image, name: 'k8s_app_web_prod_0123_0', 'metadata-name': 'app', 'created-at': 1 });
        writeJson(root, ctrs, 'overlay-containers', 'containers.json');
        fs.rmSync(path.join(root, 'libpod'), { recursive: true });
        const src = await openSource(root);
        try {
          const c = src.containers.find((x) => x.id === app.id)!;
          assert.equal(c.name, 'k8s_app_web_prod_0123_0');
          assert.deepEqual(c.kubernetes, { pod: 'web', podId: sandbox.id, namespace: 'prod', container: 'app', sandbox: false });
          assert.equal(src.containers.find((x) => x.id === sandbox.id)!.kubernetes?.sandbox, true);
        } finally {
          await src.close();
        }
        const r = await runCmd(reportCommand, [root]);
        assert.match(r.stdout, /pod web in namespace prod/);
      }));
  } finally {
    await store.remove();
  }
});
