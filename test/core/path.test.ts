import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanLayerPath, compareWalkOrder, displayPath, pathToText, textToPath, UnsafePathError } from '../../src/core/model/path.js';
import { jsonPath, safeText } from '../../src/report/format.js';

test('names are shown escaped: no control character or escape sequence reaches the terminal', () => {
  const title = textToPath('names/title-\x1b]0;PWNED\x07.txt');
  assert.equal(displayPath(title), 'names/title-\\e]0;PWNED\\x07.txt');
  assert.equal(displayPath('a\nb\tc\\d'), 'a\\nb\\tc\\\\d');
  assert.equal(displayPath(textToPath('\u009b31m')), '\\x9b31m', 'C1 CSI escaped');
  assert.equal(displayPath(textToPath('evil\u202Etxt.exe')), 'evil\\u{202e}txt.exe', 'bidi override escaped');
  assert.equal(displayPath(textToPath('café 日本 🐳')), 'café 日本 🐳');
  for (const s of [title, 'x\x00y', '\x9b', textToPath('\u0085')]) assert.doesNotMatch(displayPath(s), /[\x00-\x1f\x7f\x80-\x9f]/);
  assert.equal(safeText('RUN printf "\x1b[2J"'), 'RUN printf "\\e[2J"');
});

test('names that are not UTF-8 keep their bytes: escaped for people, exact in JSON base64', () => {
  const bad = 'names/bad-\xff\xfe-utf8.txt';
  assert.equal(pathToText(bad), null);
  assert.equal(displayPath(bad), 'names/bad-\\xff\\xfe-utf8.txt');
  const j = jsonPath(bad);
  assert.equal(j.path, '/names/bad-\\xff\\xfe-utf8.txt');
  assert.deepEqual(Buffer.from(j.pathBase64!, 'base64'), Buffer.from('/' + bad, 'latin1'));
  assert.deepEqual(jsonPath(textToPath('é')), { path: '/é' });
});

test('paths from evidence are cleaned, and escapes out of the root are refused', () => {
  assert.equal(cleanLayerPath('./etc/passwd'), 'etc/passwd');
  assert.equal(cleanLayerPath('/etc//x/./y/'), 'etc/x/y');
  assert.equal(cleanLayerPath('a/b/../c'), 'a/c');
  assert.equal(cleanLayerPath('./'), '');
  assert.throws(() => cleanLayerPath('../../etc/passwd'), UnsafePathError);
  assert.throws(() => cleanLayerPath('a/../../x'), UnsafePathError);
  assert.throws(() => cleanLayerPath('a\0b'), UnsafePathError);
});

test('walk order is a depth-first walk with names sorted by bytes (Go filepath.Walk)', () => {
  const paths = ['a-b', 'a/b', 'a', 'a/b/c', 'a.txt', 'b', 'a/a'];
  assert.deepEqual([...paths].sort(compareWalkOrder), ['a', 'a/a', 'a/b', 'a/b/c', 'a-b', 'a.txt', 'b']);
});
