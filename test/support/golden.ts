/**
 * Golden files under snapshots/: every suite compares its outputs (TUI frames, reports) the same way.
 * LAYERSCOPE_UPDATE_SNAPSHOTS=1 rewrites them; with CI=true that is an error, so CI can never bless a change.
 * A missing golden file fails and is written beside as `<name>.new` for review.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SNAPSHOTS = path.join(ROOT, 'snapshots');
export const UPDATE = process.env.LAYERSCOPE_UPDATE_SNAPSHOTS === '1';

export function assertNotUpdatingInCI(): void {
  if (UPDATE && (process.env.CI === 'true' || process.env.CI === '1')) {
    throw new Error('LAYERSCOPE_UPDATE_SNAPSHOTS=1 while CI=true: golden files must not be rewritten in CI');
  }
}

/** Compare `actual` with snapshots/<rel> (or write it when updating). */
export function matchGoldenFile(rel: string, actual: string): void {
  assertNotUpdatingInCI();
  const file = path.join(SNAPSHOTS, rel);
  if (UPDATE || !fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (!UPDATE) {
      fs.writeFileSync(file + '.new', actual);
      assert.fail(`no golden file ${path.relative(ROOT, file)}; wrote ${path.relative(ROOT, file)}.new (LAYERSCOPE_UPDATE_SNAPSHOTS=1 to accept)`);
    }
    fs.writeFileSync(file, actual);
    return;
  }
  assert.equal(actual, fs.readFileSync(file, 'utf8'), `${path.relative(ROOT, file)} differs (LAYERSCOPE_UPDATE_SNAPSHOTS=1 to accept a deliberate change)`);
}
