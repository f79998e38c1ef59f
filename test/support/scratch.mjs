// Scratch directories of the test runner and the benches (plain ESM: both load it without a build).
//
// A run creates its dir with an owner.pid; whatever it starts there (engines, shims, mounts) is undone by
// cleanupDir on success, error and signals, and a later run removes what a killed run left (sweepStale: the
// owner pid is gone). Mount points and processes are found through /proc, so nothing depends on the run that
// made them still knowing about them.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** mkdtemp with the owner's pid written in it. */
export function makeScratchDir(prefix) {
  const dir = fs.mkdtempSync(prefix);
  fs.writeFileSync(path.join(dir, 'owner.pid'), String(process.pid));
  return dir;
}

function decodeMountPath(s) {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or below dir, deepest first. */
export function mountsUnder(dir) {
  let text = '';
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'latin1');
  } catch {
    return [];
  }
  const res = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const mp = decodeMountPath(f[4]);
    if (mp === dir || mp.startsWith(dir + '/')) res.push(mp);
  }
  return res.sort((a, b) => b.length - a.length);
}

/** Processes whose command line, cwd or root points into dir (dockerd, containerd, shims, container processes). */
export function processesUnder(dir) {
  const pids = [];
  for (const ent of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(ent) || Number(ent) === process.pid) continue;
    try {
      let hit = fs.readFileSync(`/proc/${ent}/cmdline`, 'latin1').includes(dir + '/');
      for (const l of ['root', 'cwd']) {
        try {
          if (fs.readlinkSync(`/proc/${ent}/${l}`).startsWith(dir + '/')) hit = true;
        } catch {}
      }
      if (hit) pids.push(Number(ent));
    } catch {}
  }
  return pids;
}

/** End what runs from dir (TERM, then KILL), undo the mounts under it, remove it. */
export async function cleanupDir(dir, log = () => {}) {
  const pids = processesUnder(dir);
  if (pids.length) {
    for (const p of pids) try { process.kill(p, 'SIGTERM'); } catch {}
    for (let i = 0; i < 30 && pids.some(alive); i++) await sleep(100);
    for (const p of pids.filter(alive)) try { process.kill(p, 'SIGKILL'); } catch {}
    await sleep(200);
  }
  for (let round = 0; round < 3; round++) {
    const mps = mountsUnder(dir);
    if (!mps.length) break;
    for (const mp of mps) {
      if (spawnSync('umount', [mp], { timeout: 10_000 }).status !== 0) spawnSync('umount', ['-l', mp], { timeout: 10_000 });
    }
  }
  const left = mountsUnder(dir);
  if (left.length) log(`WARNING: mounts left under ${dir}: ${left.join(', ')}`);
  // rm -rf: one process for hundreds of thousands of files, and no JS recursion on deep trees.
  const r = spawnSync('rm', ['-rf', '--one-file-system', dir], { timeout: 600_000, encoding: 'utf8' });
  if (r.status !== 0) log(`WARNING: could not remove ${dir}: ${(r.stderr ?? '').trim() || r.error?.message}`);
}

/** Remove the dirs with this prefix whose owner died (SIGKILL, power loss); a dir holding KEEP is left. */
export async function sweepStale(prefix, log = () => {}) {
  let ents = [];
  try {
    ents = fs.readdirSync(path.dirname(prefix));
  } catch {
    return;
  }
  for (const ent of ents) {
    const dir = path.join(path.dirname(prefix), ent);
    if (!dir.startsWith(prefix)) continue;
    let owner = NaN;
    try {
      owner = Number(fs.readFileSync(path.join(dir, 'owner.pid'), 'utf8'));
    } catch {
      continue;
    }
    if (fs.existsSync(path.join(dir, 'KEEP'))) continue;
    if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
      log(`removing ${dir}, left by an earlier run (pid ${owner} is gone)`);
      await cleanupDir(dir, log);
    }
  }
}
