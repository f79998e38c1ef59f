// Which test files there are and which of them need an engine: shared by test/run.mjs (engines are started only
// for files that use them) and test/node-matrix.mjs (the subset run on the other Node lines is every file that
// needs no engine plus a few engine-backed ones), so both read the same answer.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Every test/**\/*.test.ts[x] (node_modules and dot dirs excluded), relative to the repository, sorted. */
export function findTests() {
  const found = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && /\.test\.tsx?$/.test(e.name)) found.push(path.relative(ROOT, p));
    }
  };
  walk(path.join(ROOT, 'test'));
  return found.sort();
}

/** Whether a test file (absolute or relative to the repository), or a test module it imports transitively, asks for an engine. */
export function usesEngines(file, seen = new Set()) {
  file = path.resolve(ROOT, file);
  if (seen.has(file)) return false;
  seen.add(file);
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  if (file !== path.join(ROOT, 'test/support/engine.ts') && /\bgetEngine\(|\bengines\(\)|LAYERSCOPE_TEST_ENGINES/.test(text)) return true;
  for (const m of text.matchAll(/from\s+'(\.{1,2}\/[^']+)'/g)) {
    const dep = path.resolve(path.dirname(file), m[1]).replace(/\.js$/, '');
    if (!dep.startsWith(path.join(ROOT, 'test'))) continue;
    for (const ext of ['.ts', '.tsx', '.mjs']) if (fs.existsSync(dep + ext) && usesEngines(dep + ext, seen)) return true;
  }
  return false;
}

/**
 * Support modules that start an engine of their own, run by a test user or on a fixed private root (podman, a
 * rootless Docker, Docker on other graph drivers): two runs of such a suite at once (the Node lines side by side)
 * would share that user and root, so those suites run on the machine's line only.
 */
const OWN_ENGINE_MODULES = ['test/support/podman.ts', 'test/support/rootless-docker.ts', 'test/support/driver-engines.ts'].map((f) => path.join(ROOT, f));

/** True when `file` (or a test module it imports) starts an engine of its own (OWN_ENGINE_MODULES). */
export function runsOwnEngine(file, seen = new Set()) {
  file = path.resolve(ROOT, file);
  if (seen.has(file)) return false;
  seen.add(file);
  if (OWN_ENGINE_MODULES.includes(file)) return true;
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  for (const m of text.matchAll(/from\s+'(\.{1,2}\/[^']+)'/g)) {
    const dep = path.resolve(path.dirname(file), m[1]).replace(/\.js$/, '');
    if (!dep.startsWith(path.join(ROOT, 'test'))) continue;
    for (const ext of ['.ts', '.tsx', '.mjs']) if (fs.existsSync(dep + ext) && runsOwnEngine(dep + ext, seen)) return true;
  }
  return false;
}
