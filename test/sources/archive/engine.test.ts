/**
 * Engine-backed: the same images saved in every format a user meets, read back, must agree on every layer's
 * changes and on every ImageInfo field except id, tags, location (skopeo rewrites the config, so the ID and the
 * config object differ); and diffIds / history must match what the engine itself says (`docker image inspect`).
 * Engines come from test/run.mjs (LAYERSCOPE_TEST_ENGINES). Without them: skip loudly, or fail under
 * LAYERSCOPE_REQUIRE_ENGINE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { openArchive } from '../../../src/core/sources/archive/index.js';
import type { Source } from '../../../src/core/model/source.js';
import type { ImageInfo, LayerChanges, LayerEntry } from '../../../src/core/model/types.js';
import { tempDir, hasTool } from '../tar/helpers.js';

interface Engine { host: string; client: string; version: string; path?: string; dockerConfig?: string }
const engines: Record<string, Engine> = JSON.parse(process.env.LAYERSCOPE_TEST_ENGINES || '{}');
const required = process.env.LAYERSCOPE_REQUIRE_ENGINE === '1';

function need(t: { skip: (m: string) => void }, name: string): Engine | null {
  const e = engines[name];
  if (e) return e;
  const why = JSON.parse(process.env.LAYERSCOPE_TEST_ENGINES_UNAVAILABLE || '{}')[name] ?? 'LAYERSCOPE_TEST_ENGINES not set (run through test/run.mjs)';
  if (required) assert.fail(`engine ${name} required but unavailable: ${why}`);
  process.stderr.write(`\n!!! SKIPPED (engine ${name} unavailable: ${why})\n`);
  t.skip(`engine ${name} unavailable: ${why}`);
  return null;
}

function docker(e: Engine, args: string[]): string {
  return execFileSync(e.client, args, {
    env: { ...process.env, DOCKER_HOST: e.host, ...(e.dockerConfig ? { DOCKER_CONFIG: e.dockerConfig } : {}), ...(e.path ? { PATH: e.path } : {}) },
    maxBuffer: 1 << 28,
  }).toString();
}

async function dump(s: Source) {
  const out = new Map<string, { img: ImageInfo; layers: LayerChanges[] }>();
  for (const img of s.images) {
    const layers: LayerChanges[] = [];
    for (const l of img.layers) {
      const t = await s.readLayer(img, l.index);
      layers.push({ entries: t.entries, problems: t.problems });
    }
    for (const t of img.tags.length ? img.tags : [img.id]) out.set(t, { img, layers });
  }
  return out;
}
function comparable(img: ImageInfo) {
  // parent: a save records it only when the parent image is saved too (and skopeo never), so it is not compared
  const { id, tags, digests, config, layers, parent, ...rest } = img;
  void id; void tags; void digests; void config; void parent;
  return { ...rest, layers: layers.map(({ location, ...l }) => (void location, l)) };
}

const IMAGES = ['ls-bloat:1', 'ls-deep:1', 'ls-base:1'];

test('cross-format: legacy 20.10 save, Docker 26 save, containerd-store save, skopeo oci-archive / oci dir / zstd oci dir / docker-archive, docker: stream', { timeout: 600_000 }, async (t) => {
  const d20 = need(t, 'docker20');
  if (!d20) return;
  const { dir, cleanup } = tempDir('ls-xfmt-');
  t.after(cleanup);
  const formats: [string, string, string][] = []; // [name, location, tag prefix map]
  const legacy = join(dir, 'legacy.tar');
  docker(d20, ['save', '-o', legacy, ...IMAGES]);
  formats.push(['docker20 save (legacy)', legacy, '']);
  for (const [name, e] of [['docker26', engines.docker26], ['docker26c', engines.docker26c]] as const) {
    if (!e) {
      process.stderr.write(`\n!!! cross-format: ${name} unavailable, its save format is not covered in this run\n`);
      if (required) assert.fail(`${name} required`);
      continue;
    }
    const f = join(dir, `${name}.tar`);
    // the docker20-built images, copied in by test/run.mjs (same image IDs), tagged :from20
    docker(e, ['save', '-o', f, ...IMAGES.map((i) => i.replace(':1', ':from20'))]);
    formats.push([`${name} save`, f, ':from20']);
  }
  if (hasTool('skopeo')) {
    const img = 'ls-bloat:1';
    const sk = (dest: string, extra: string[] = []) =>
      execFileSync('skopeo', ['copy', '-q', ...extra, '--src-daemon-host', d20.host, `docker-daemon:${img}`, dest], { maxBuffer: 1 << 26 });
    sk(`oci-archive:${dir}/sk-oci.tar:${img}`);
    sk(`oci:${dir}/sk-oci-dir:${img}`);
    mkdirSync(`${dir}/z`);
    sk(`oci:${dir}/z/sk-oci-zstd:${img}`, ['--dest-compress-format', 'zstd']);
    sk(`docker-archive:${dir}/sk-docker.tar:${img}`);
    formats.push(['skopeo oci-archive', `${dir}/sk-oci.tar`, ''], ['skopeo oci dir', `${dir}/sk-oci-dir`, ''], ['skopeo oci dir zstd', `${dir}/z/sk-oci-zstd`, ''], ['skopeo docker-archive', `${dir}/sk-docker.tar`, '']);
  } else if (required) assert.fail('skopeo missing');

  const ref = await (async () => {
    const s = await openArchive(legacy, { verify: true });
    const d = await dump(s);
    await s.close();
    return d;
  })();
  // The engine is the oracle for diffIds and history alignment.
  for (const name of IMAGES) {
    const inspect = JSON.parse(docker(d20, ['image', 'inspect', name]))[0];
    const r = ref.get(name)!;
    assert.ok(r, `${name} in the legacy save`);
    assert.equal(r.img.id, inspect.Id);
    assert.deepEqual(r.img.layers.map((l) => l.diffId), inspect.RootFS.Layers);
    for (const l of r.layers) assert.deepEqual(l.problems.filter((p) => p.severity === 'error'), [], name);
    const hist = JSON.parse('[' + docker(d20, ['history', '--no-trunc', '--format', '{{json .CreatedBy}}', name]).trim().split('\n').join(',') + ']') as string[];
    const made = r.img.layers.map((l) => l.createdBy).filter((x) => x !== null);
    for (const cmd of made) assert.ok(hist.includes(cmd!), `history entry ${cmd} known to the engine`);
  }
  // A real docker: stream through the engine CLI
  const streamed = await openArchive(`docker:${IMAGES[0]}`, { env: { ...process.env, DOCKER_HOST: d20.host }, dockerCommand: d20.client });
  formats.push(['docker: stream', '', '']);
  const streamedDump = await dump(streamed);
  await streamed.close();

  let compared = 0;
  let stale = 0;
  for (const [fname, loc, suffix] of formats) {
    const got = loc ? await (async () => {
      const s = await openArchive(loc, { verify: true });
      const d = await dump(s);
      for (const p of s.problems) assert.notEqual(p.severity, 'error', `${fname}: ${p.message}`);
      await s.close();
      return d;
    })() : streamedDump;
    for (const name of IMAGES) {
      const g = got.get(suffix ? name.replace(':1', suffix) : name);
      if (!g) continue; // skopeo copies only ls-bloat:1
      const r = ref.get(name)!;
      if (suffix && g.img.id !== r.img.id) {
        // test/run.mjs copies docker20's images into the Docker 26 engines as :from20; a cached data root can
        // hold a copy from an older docker20 build. Not the same image: nothing to compare (the per-engine
        // oracle tests below still cover this format against its own data root).
        process.stderr.write(`\n!!! ${fname}: ${name.replace(':1', suffix)} is ${g.img.id}, not docker20's ${r.img.id} (stale :from20 copy in the engine); not compared\n`);
        stale++;
        continue;
      }
      assert.deepEqual(comparable(g.img), comparable(r.img), `${fname} ${name}: ImageInfo`);
      assert.equal(g.layers.length, r.layers.length);
      for (let i = 0; i < r.layers.length; i++) {
        assert.deepEqual(g.layers[i]!.entries, r.layers[i]!.entries, `${fname} ${name} layer ${i}: entries`);
        assert.deepEqual(g.layers[i]!.problems.filter((p) => p.severity === 'error'), [], `${fname} ${name} layer ${i}: no errors`);
      }
      compared++;
    }
  }
  process.stderr.write(`cross-format: ${compared} image reads compared over ${formats.length} formats${stale ? ` (${stale} stale :from20 copies skipped)` : ''}\n`);
  assert.ok(compared + stale >= formats.length);
});

for (const engineName of ['docker20', 'docker26', 'docker26c']) {
  test(`oracle (${engineName}): its own docker save, read once from a pipe, equals its data root`, { timeout: 300_000 }, async (t) => {
    const e = need(t, engineName);
    if (!e) return;
    const { openSource } = await import('../../../src/core/sources/open.js');
    const dataRoot = (e as Engine & { dataRoot: string }).dataRoot;
    const root = await openSource(dataRoot, {});
    const { spawn } = await import('node:child_process');
    const env = { ...process.env, DOCKER_HOST: e.host, ...(e.path ? { PATH: e.path } : {}) };
    const all = await openArchive('-', { stdin: spawn(e.client, ['save', ...IMAGES], { env, stdio: ['ignore', 'pipe', 'inherit'] }).stdout! });
    try {
      assert.deepEqual(all.problems.filter((p) => p.severity === 'error'), []);
      let layers = 0;
      for (const img of all.images) {
        // the containerd store names images by manifest digest, a graphdriver store by config digest: match by tag
        const r = root.images.find((i) => i.id === img.id) ?? root.images.find((i) => img.tags.length > 0 && img.tags.every((x) => i.tags.includes(x)));
        assert.ok(r, `${img.tags} in the data root`);
        assert.deepEqual(img.tags, r!.tags.filter((x) => img.tags.includes(x)), 'tags in familiar form, as the store names them');
        assert.deepEqual(
          img.layers.map((l) => [l.diffId, l.chainId, l.createdBy, l.created, l.comment]),
          r!.layers.map((l) => [l.diffId, l.chainId, l.createdBy, l.created, l.comment]),
        );
        // parent: recorded by a save only when the parent image is in the same save
        if (img.parent && r!.parent) assert.equal(img.parent, r!.parent);
        // intermediate: archives never hold hidden build steps (always false); stores differ in recording it
        assert.equal(img.intermediate, false);
        // targets: the digests the containerd store's names point at (the store's own records, not in a save)
        const strip = (x: ImageInfo) => ({ ...x, id: '', tags: [], layers: [], digests: [], parent: null, intermediate: undefined, targets: undefined });
        assert.deepEqual(strip(img), strip(r!));
        for (const l of img.layers) {
          const a = await all.readLayer(img, l.index);
          const b = await root.readLayer(r!, l.index);
          assert.deepEqual(a.problems.filter((p) => p.severity === 'error'), [], `${img.tags[0]} layer ${l.index}: integrity`);
          assert.deepEqual(a.entries, b.entries, `${img.tags[0]} layer ${l.index}`);
          layers++;
        }
      }
      process.stderr.write(`oracle ${engineName} (${e.version}): ${layers} layers of ${all.images.length} images identical between docker save and the data root\n`);
    } finally {
      await all.close();
      await root.close();
    }
  });
}
