/** Test helpers: temp dirs, running real tools, and a hand-made tar writer for hostile headers. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

export function tempDir(prefix = 'ls-tar-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer | string } = {}): Buffer {
  return execFileSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function hasTool(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface RawMember {
  name: string | Buffer;
  type?: string;
  size?: number;
  body?: Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  /** Write the size field in GNU base-256. */
  base256Size?: boolean;
  /** Corrupt the checksum. */
  badChecksum?: boolean;
  magic?: 'ustar' | 'gnu';
}

function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, '0') + '\0';
}

/** One ustar/GNU header block, hand-made (checksums right unless asked otherwise). */
export function header(m: RawMember): Buffer {
  const b = Buffer.alloc(512);
  const name = Buffer.isBuffer(m.name) ? m.name : Buffer.from(m.name, 'latin1');
  name.copy(b, 0, 0, Math.min(100, name.length));
  b.write(octal(m.mode ?? 0o644, 8), 100, 'latin1');
  b.write(octal(m.uid ?? 0, 8), 108, 'latin1');
  b.write(octal(m.gid ?? 0, 8), 116, 'latin1');
  const size = m.size ?? m.body?.length ?? 0;
  if (m.base256Size) {
    b[124] = 0x80;
    let v = size;
    for (let i = 135; i > 124; i--) {
      b[i] = v % 256;
      v = Math.floor(v / 256);
    }
  } else b.write(octal(size, 12), 124, 'latin1');
  b.write(octal(m.mtime ?? 0, 12), 136, 'latin1');
  b.write(m.type ?? '0', 156, 'latin1');
  if (m.linkname) b.write(m.linkname, 157, 'latin1');
  if (m.magic === 'gnu') b.write('ustar  \0', 257, 'latin1');
  else b.write('ustar\x0000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  b.write(octal(sum + (m.badChecksum ? 1 : 0), 7) + ' ', 148, 'latin1');
  return b;
}

function padTo512(b: Buffer): Buffer {
  const r = b.length % 512;
  return r ? Buffer.concat([b, Buffer.alloc(512 - r)]) : b;
}

/** PAX record "<len> key=value\n" with a raw (Buffer) value. */
export function paxRecord(key: string, value: Buffer | string): Buffer {
  const v = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
  const rest = Buffer.concat([Buffer.from(' ' + key + '=', 'utf8'), v, Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}

/** A whole tar from members; `pax` records are written as an 'x' header before the member. */
export function tar(members: (RawMember & { pax?: Buffer[] })[], opts: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    if (m.pax) {
      const body = Buffer.concat(m.pax);
      parts.push(header({ name: 'PaxHeaders/x', type: 'x', size: body.length }), padTo512(body));
    }
    parts.push(header(m));
    if (m.body) parts.push(padTo512(m.body));
  }
  if (opts.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
