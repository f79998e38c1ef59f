/**
 * ATTACK: the TUI's logs tab `/` search in regex mode (ctrl+t) runs the user's RegExp on every line, on the UI
 * thread, with no bound. A container line of 4,096 `a` (the tab keeps 4 KiB of a line) followed by `!`, searched
 * with `(a+)+$` (or any nested quantifier a user may type: `(\w+\s?)+$`, `(.*a){20}`), backtracks for ever:
 * the TUI freezes, and since the terminal is in raw mode ctrl+c is a key that is never read, so `q` and ctrl+c
 * do nothing; only a kill from another terminal ends it. The text is evidence (the container chose it).
 *
 * Observed: searchLogs (src/tui/container-tabs.ts) does not return within 10 s (the child is killed).
 * Expected: a search is bounded (a time or step budget, the regex run off the UI thread, or a linear-time
 * engine), and says the search was cut short instead of hanging; here: returns within 10 s.
 * (src/tui/search.ts searchPaths has the same unbounded RegExp over path names.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = join(import.meta.dirname, '../..');

test('a logs-tab regex search on a hostile line returns in bounded time', { timeout: 30_000 }, () => {
  const mod = pathToFileURL(join(ROOT, 'src/tui/container-tabs.ts')).href;
  const script = `const { searchLogs } = await import(${JSON.stringify(mod)});
const lines = [{ stream: 'stdout', time: '', text: 'a'.repeat(4096) + '!' }, { stream: 'stdout', time: '', text: 'aaa' }];
const r = searchLogs(lines, '(a+)+$', true);
process.stdout.write(JSON.stringify(r.hits));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, timeout: 10_000, encoding: 'utf8' });
  assert.equal(r.signal, null, 'searchLogs("(a+)+$") on a 4 KiB line did not return within 10 s: the TUI hangs');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '[1]');
});
