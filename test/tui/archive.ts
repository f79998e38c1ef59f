/**
 * A real `docker save` archive made without an engine: layer dirs tarred with GNU tar, an image config with
 * diff_ids and history, manifest.json. Used by the end-to-end test (and usable as a demo image).
 *
 *   L0 ADD rootfs:        bin/sh (file), etc/passwd
 *   L1 RUN dd ...:        data/big.bin (3 MiB), data/keep.txt
 *   L2 RUN rm big.bin:    data/.wh.big.bin (whiteout)
 *   L3 RUN touch names:   names/title-ESC]0;PWNED BEL.txt (sets the terminal title if printed raw),
 *                         names/red-ESC[31m...ESC[0m.txt
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const E2E_TAG = 'e2e:1';
export const TITLE_FILE = 'title-\x1b]0;PWNED\x07.txt';
export const RED_FILE = 'red-\x1b[31mtext\x1b[0m.txt';

function sha256File(p: string): string {
  return createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

export function makeE2EArchive(dir: string): string {
  const work = path.join(dir, 'work');
  const layers: { files: Record<string, Buffer | string>; cmd: string }[] = [
    { files: { 'bin/sh': Buffer.alloc(2000, 1), 'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n' }, cmd: '/bin/sh -c #(nop) ADD file:rootfs in / ' },
    { files: { 'data/big.bin': Buffer.alloc(3 * 1024 * 1024, 0x61), 'data/keep.txt': 'keep\n' }, cmd: '/bin/sh -c dd if=/dev/zero of=/data/big.bin bs=1M count=3 && echo keep > /data/keep.txt' },
    { files: { 'data/.wh.big.bin': '' }, cmd: '/bin/sh -c rm /data/big.bin' },
    { files: { [`names/${TITLE_FILE}`]: 'x', [`names/${RED_FILE}`]: 'y' }, cmd: '/bin/sh -c mkdir /names && touch /names/...' },
  ];
  const out = path.join(dir, 'save');
  fs.mkdirSync(out, { recursive: true });
  const diffIds: string[] = [];
  const layerPaths: string[] = [];
  layers.forEach((l, i) => {
    const root = path.join(work, `l${i}`);
    for (const [p, content] of Object.entries(l.files)) {
      fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
      fs.writeFileSync(path.join(root, p), content);
    }
    const tmp = path.join(work, `l${i}.tar`);
    execFileSync('tar', ['--format=gnu', '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=2024-01-01 00:00:00Z', '-C', root, '-cf', tmp, '.']);
    const hex = sha256File(tmp);
    diffIds.push(`sha256:${hex}`);
    fs.mkdirSync(path.join(out, hex), { recursive: true });
    fs.renameSync(tmp, path.join(out, hex, 'layer.tar'));
    layerPaths.push(`${hex}/layer.tar`);
  });
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: layers.map((l) => ({ created: '2024-01-01T00:00:00Z', created_by: l.cmd })),
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configHex = createHash('sha256').update(configBytes).digest('hex');
  fs.writeFileSync(path.join(out, `${configHex}.json`), configBytes);
  fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [E2E_TAG], Layers: layerPaths }]));
  const archive = path.join(dir, 'e2e.tar');
  execFileSync('tar', ['--format=gnu', '-C', out, '-cf', archive, '.']);
  fs.rmSync(work, { recursive: true, force: true });
  return archive;
}
