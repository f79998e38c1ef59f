/** Helpers of the attack8 tests: the built CLI as a user runs it, and leftovers of layerscope mounts. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import { readMountInfo } from '../../src/core/verify/mount/mountinfo.js';
import { ourMounts } from '../../src/core/verify/mount/index.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'bin/layerscope.js');
export const DEMO = path.join(ROOT, 'demo/demo.tar');

export async function cli(args: string[], env: Record<string, string> = {}) {
  return execa(process.execPath, [BIN, ...args], { reject: false, env: { TMPDIR: os.tmpdir(), ...env }, timeout: 300_000 });
}

/** Mount points (as raw mountinfo text, bytes undecoded) of every mount below `dir`. */
export function rawMountsUnder(dir: string): string[] {
  const text = fs.readFileSync('/proc/self/mountinfo');
  const want = Buffer.from(dir);
  const out: string[] = [];
  for (const line of text.toString('binary').split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    // mountinfo escapes space, tab, newline and backslash as octal; the rest are raw bytes.
    const bytes = Buffer.from(mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), 'binary');
    if (bytes.equals(want) || (bytes.length > want.length && bytes.subarray(0, want.length).equals(want) && bytes[want.length] === 0x2f)) out.push(bytes.toString('utf8'));
  }
  return out;
}

/** Unmount (system umount, lazily when busy) everything below `dir`, deepest first: the tests' own cleanup. */
export async function forceUnmountUnder(dir: string): Promise<void> {
  for (const mp of rawMountsUnder(dir).sort((a, b) => b.length - a.length)) {
    const r = await execa('umount', [mp], { reject: false });
    if (r.exitCode !== 0) await execa('umount', ['-l', mp], { reject: false });
  }
}

export function layerscopeMountCount(): number {
  return ourMounts(readMountInfo()).length;
}

/** The run id (`<pid>-<6 chars>`) printed by `layerscope mount` ("overlay layerscope-<id>: ..."). */
export function runIdOf(mountStdout: string): string | null {
  return /overlay layerscope-(\d+-[A-Za-z0-9]{6})/.exec(mountStdout)?.[1] ?? null;
}

/**
 * The tests' own cleanup of one run, by its id only (never `umount --all`, which would touch the mounts of
 * other test runs on the machine): its mounts by mount source, its workspace, its state record.
 */
export async function cleanRun(id: string, tmpDir = os.tmpdir(), stateDir = '/run/layerscope/mounts'): Promise<void> {
  const text = fs.readFileSync('/proc/self/mountinfo', 'binary');
  const mine = text.split('\n').filter((l) => l.includes(` - overlay layerscope-${id} `)).map((l) => Buffer.from(l.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), 'binary').toString('utf8'));
  for (const mp of mine) await forceUnmountUnder(mp);
  const ws = path.join(tmpDir, `layerscope-mount-${id}`);
  await forceUnmountUnder(ws);
  fs.rmSync(ws, { recursive: true, force: true });
  fs.rmSync(path.join(stateDir, `${id}.json`), { force: true });
}
