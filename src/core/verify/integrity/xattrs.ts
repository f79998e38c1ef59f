import { spawnSync } from 'node:child_process';
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
