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
