/**
 * Generated help, laid out: every command's --help at 80 columns (and at 100 and 120) keeps flag names apart
 * from their text (`--lowest-efficiency VALUEminimum...` was the bug), fits the width, and names values as the
 * usage forms do.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { commands } from '../../src/cli/commands/index.js';
import { commandHelp, helpText, wrap } from '../../src/cli/help.js';

/** Lines wider than `width` that could have been broken (a single word longer than the line may not be). */
const overlong = (text: string, width: number) => text.split('\n').filter((l) => l.length > width && /\S \S/.test(l.slice(0, width + 1).trimStart()));

test('every command: flag names never run into their help; nothing wider than the terminal', () => {
  for (const width of [80, 100, 120]) {
    for (const c of commands) {
      const h = commandHelp(c, width);
      assert.deepEqual(overlong(h, width), [], `${c.name} --help at ${width}`);
      const lines = h.split('\n');
      for (const [name, f] of Object.entries(c.flags)) {
        const i = lines.findIndex((l) => new RegExp(`^ {2}(-\\w, )?--${name}(?= |$)`).test(l));
        assert.ok(i >= 0, `${c.name}: --${name} listed`);
        const line = lines[i]!;
        // The name (and value) end, then two spaces and the help, or the line ends and the help is below.
        const m = /^ {2}(?:-\w, )?--[\w-]+(?: \S+)?( {2,}\S.*)?$/.exec(line);
        assert.ok(m, `${c.name}: ${JSON.stringify(line)}`);
        if (!m[1]) assert.match(lines[i + 1]!, /^ {24}\S/, `${c.name} --${name}: help on the next line, in the column`);
        // The help text is all there, whatever the wrapping.
        const text = [m[1] ?? '', ...lines.slice(i + 1).filter((_, k, a) => a.slice(0, k + 1).every((x) => /^ {24}\S/.test(x)))].join(' ').replace(/\s+/g, ' ').trim();
        assert.ok(text.startsWith(f.help.slice(0, 30).replace(/\s+/g, ' ')), `${c.name} --${name}: ${text}`);
      }
    }
    assert.deepEqual(overlong(helpText(commands, width), width), [], `--help at ${width}`);
  }
});

test('ci --help: the case of the report, laid out', () => {
  const ci = commands.find((c) => c.name === 'ci')!;
  const h = commandHelp(ci, 80);
  assert.match(h, /\n {2}--lowest-efficiency R\n {24}minimum visible\/total bytes/);
  assert.match(h, /\n {2}--image REF {11}image to check/);
  assert.match(h, /\n {2}--format text\|json {4}text \(default\) or json/);
  assert.match(h, /\n {2}--source KIND {9}what SOURCE is/);
  assert.doesNotMatch(h, /VALUE\S/);
  // Usage forms wrap under the command, a [group] or a flag with its value kept whole.
  assert.match(h, /\nusage: layerscope ci SOURCE \[--image REF\]\.\.\. \[--base REF \| --base-layers N\]\n {21}\[--config FILE\]/);
});

test('wrap: words to the width, long words whole, indents', () => {
  assert.deepEqual(wrap('aa bb cc dd', 5, '', ''), ['aa bb', 'cc dd']);
  assert.deepEqual(wrap('aaaaaaaa bb', 5, '> ', '  '), ['> aaaaaaaa', '  bb']);
  assert.deepEqual(wrap('x [--a B] [--c D]', 10, '', '  ', true), ['x [--a B]', '  [--c D]']);
});
