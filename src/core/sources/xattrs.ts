import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, type Dirent } from 'node:fs';
import { getAttributeSync, listAttributesSync } from '@napi-rs/xattr';

/**
 * Every extended attribute of a host path given as raw bytes, without following a final symlink.
 *
 * @napi-rs/xattr uses l*xattr (no follow) but takes UTF-8 strings, so a name that is not valid UTF-8 cannot go
 * through it. For those (rare) names we run `getfattr -h` (attr package) with the path rebuilt from octal
 * escapes by the shell, so the exact bytes reach the syscall. Returns null when the attributes cannot be read
 * at all (the caller reports that the check was skipped; it never guesses).
 */
export function readXattrsBytes(hostPath: Buffer): Map<string, Buffer> | null {
  const text = utf8OrNull(hostPath);
  if (text !== null) {
    const names = listAttributesSync(text);
    const out = new Map<string, Buffer>();
    for (const n of names) {
      const v = getAttributeSync(text, n);
      if (v !== null) out.set(n, v);
    }
    return out;
  }
  return readWithGetfattr(hostPath);
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function utf8OrNull(b: Buffer): string | null {
  try {
    return utf8Strict.decode(b);
  } catch {
    return null;
  }
}

function readWithGetfattr(hostPath: Buffer): Map<string, Buffer> | null {
  // printf %b turns \0ooo into the byte; the trailing "x" keeps a final newline byte from $(...) stripping.
  let escaped = '';
  for (const c of hostPath) escaped += /[A-Za-z0-9._/-]/.test(String.fromCharCode(c)) ? String.fromCharCode(c) : '\\0' + c.toString(8).padStart(3, '0');
  const script = 'p=$(printf "%bx" "$1"); p=${p%x}; exec getfattr --absolute-names -h -d -m - -e hex -- "$p"';
  const r = spawnSync('sh', ['-c', script, 'sh', escaped], { encoding: 'latin1', maxBuffer: 64 << 20 });
  if (r.error || r.status !== 0) return null;
  const out = new Map<string, Buffer>();
  for (const line of r.stdout.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const name = eq < 0 ? line : line.slice(0, eq);
    const value = eq < 0 ? '' : line.slice(eq + 1);
    if (value === '' || value === '""') out.set(name, Buffer.alloc(0));
    else if (value.startsWith('0x')) out.set(name, Buffer.from(value.slice(2), 'hex'));
    else if (value.startsWith('"') && value.endsWith('"')) out.set(name, Buffer.from(value.slice(1, -1), 'latin1'));
    else return null;
  }
  return out;
}

/** xattrs of every entry below a dir that has any, keyed by layer-relative byte string ('' = the dir itself). */
export type TreeXattrs = Map<string, Map<string, Buffer>>;

/**
 * All xattrs of a whole tree in one `getfattr -R -P -h` run (no symlink followed, neither for reading nor for
 * recursion). It lists only entries that have xattrs, and its C walk costs ~3 µs an entry where one
 * @napi-rs/xattr call costs ~15 µs (45k files: 0.13 s vs 0.68 s), which dominated layers of small files.
 * Null when getfattr is missing or reports any error: the caller then reads entry by entry and reports each
 * failure where it happens.
 */
export function collectTreeXattrs(dir: string): Promise<TreeXattrs | null> {
  return new Promise((resolve) => {
    const args = ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', dir];
    let child;
    try {
      child = spawn('getfattr', args, { env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      resolve(null);
      return;
    }
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.on('error', () => resolve(null));
    child.on('close', (code) => {
      if (code !== 0) return resolve(null);
      try {
        resolve(parseGetfattrDump(Buffer.concat(out), Buffer.from(dir, 'utf8')));
      } catch {
        resolve(null);
      }
    });
  });
}

/**
 * Parse `getfattr -d -e hex --absolute-names` output. getfattr writes name bytes raw except control characters
 * and the backslash, which it escapes as \ooo (so a name never spans lines and the escape is unambiguous).
 */
export function parseGetfattrDump(dump: Buffer, dir: Buffer): TreeXattrs {
  const out: TreeXattrs = new Map();
  const prefix = Buffer.concat([dir, Buffer.from('/')]);
  let cur: Map<string, Buffer> | null = null;
  for (const raw of dump.toString('latin1').split('\n')) {
    if (raw === '') {
      cur = null;
      continue;
    }
    if (raw.startsWith('# file: ')) {
      const p = unescapeOctal(raw.slice(8));
      let rel: string;
      if (p.equals(dir)) rel = '';
      else if (p.subarray(0, prefix.length).equals(prefix)) rel = p.subarray(prefix.length).toString('latin1');
      else throw new Error(`getfattr listed a path outside ${dir.toString('latin1')}`);
      cur = new Map();
      out.set(rel, cur);
      continue;
    }
    if (cur === null) throw new Error('getfattr output: attribute outside a file block');
    const eq = raw.lastIndexOf('=');
    if (eq < 0 || raw.slice(eq + 1, eq + 3) !== '0x') throw new Error(`getfattr output: unexpected line ${JSON.stringify(raw)}`);
    cur.set(unescapeOctal(raw.slice(0, eq)).toString('latin1'), Buffer.from(raw.slice(eq + 3), 'hex'));
  }
  return out;
}

function unescapeOctal(s: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c && /^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) {
      bytes.push(parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
    } else bytes.push(c);
  }
  return Buffer.from(bytes);
}

/**
 * The same map, entry by entry through readXattrsBytes (no symlink followed; symlinked dirs are not entered).
 * `onError` gets each entry whose xattrs cannot be read, `onSkip` each one whose name cannot be passed at all.
 */
export function walkTreeXattrs(dir: string, onError: (rel: string, err: unknown) => void, onSkip: (rel: string) => void): TreeXattrs {
  const out: TreeXattrs = new Map();
  const base = Buffer.from(dir, 'utf8');
  const stack: string[] = [''];
  const host = (rel: string) => (rel === '' ? base : Buffer.concat([base, Buffer.from('/'), Buffer.from(rel, 'latin1')]));
  const read = (rel: string) => {
    try {
      const x = readXattrsBytes(host(rel));
      if (x === null) onSkip(rel);
      else if (x.size > 0) out.set(rel, x);
    } catch (err) {
      onError(rel, err);
    }
  };
  read('');
  while (stack.length > 0) {
    const d = stack.pop()!;
    let names: Dirent[];
    try {
      names = readdirSync(host(d), { encoding: 'latin1', withFileTypes: true }) as unknown as Dirent[];
    } catch (err) {
      onError(d, err);
      continue;
    }
    for (const e of names) {
      const rel = d === '' ? e.name : d + '/' + e.name;
      read(rel);
      if (e.isDirectory()) stack.push(rel);
    }
  }
  return out;
}
