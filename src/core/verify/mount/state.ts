import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The state records of `layerscope mount`: one small JSON file per run, `<dir>/<id>.json`, naming what the run
 * made that the mount table does not show (its workspace in the temp dir, the directories it created). The
 * directory is root's and 0700 (/run: gone at reboot, like the mounts themselves). A record is read only when
 * the directory and the file pass the same checks (root's, not group/world-writable, real dir/file, small):
 * anything else is ignored, and `umount --all` then works from the mount table and the workspace names alone.
 */

export const STATE_DIR = '/run/layerscope/mounts';
const MAX_RECORD = 64 * 1024;
const ID_RE = /^\d+-[A-Za-z0-9]{6}$/;

export interface StateRecord {
  schema: 'layerscope.mount-state/v1';
  id: string;
  pid: number;
  /** 'mounting' until every mount of the run is made; 'mounted' after. */
  status: 'mounting' | 'mounted';
  workspace: string;
  source: string;
  mountPoints: string[];
  createdDirs: string[];
  created: string;
}

function trusted(st: fs.Stats, dir: boolean): boolean {
  return (dir ? st.isDirectory() : st.isFile()) && st.uid === 0 && (st.mode & 0o022) === 0;
}

export class MountState {
  constructor(readonly dir: string) {}

  file(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  /** The directory, created 0700 when missing; every existing component must be a real directory of root's. */
  private ensure(): void {
    let cur = '';
    for (const c of this.dir.split('/').filter(Boolean)) {
      cur += '/' + c;
      let st: fs.Stats | null = null;
      try {
        st = fs.lstatSync(cur);
      } catch {
        // not an output: our own state directory (root's, 0700).
        fs.mkdirSync(cur, { mode: 0o700 });
        st = fs.lstatSync(cur);
      }
      if (!st.isDirectory()) throw new Error(`state directory: ${cur} is not a real directory`);
    }
    const st = fs.lstatSync(this.dir);
    if (!trusted(st, true)) throw new Error(`state directory ${this.dir} is not root's, or is writable by others`);
  }

  private usable(): boolean {
    try {
      return trusted(fs.lstatSync(this.dir), true) && this.dir.split('/').filter(Boolean).every((_, i, a) => !fs.lstatSync('/' + a.slice(0, i + 1).join('/')).isSymbolicLink());
    } catch {
      return false;
    }
  }

  /** Write (replace) a record atomically. Returns its path. */
  write(rec: StateRecord): string {
    this.ensure();
    const f = this.file(rec.id);
    const tmp = `${f}.${process.pid}.tmp`;
    // not an output: our own state record.
    fs.writeFileSync(tmp, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600, flag: 'w' });
    fs.renameSync(tmp, f);
    return f;
  }

  read(id: string): StateRecord | null {
    if (!ID_RE.test(id) || !this.usable()) return null;
    const f = this.file(id);
    let fd: number;
    try {
      fd = fs.openSync(f, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch {
      return null;
    }
    try {
      const st = fs.fstatSync(fd);
      if (!trusted(st, false) || st.size > MAX_RECORD) return null;
      const buf = Buffer.alloc(st.size);
      fs.readSync(fd, buf, 0, st.size, 0);
      const rec = JSON.parse(buf.toString('utf8')) as Partial<StateRecord>;
      const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string' && path.isAbsolute(x));
      if (rec.schema !== 'layerscope.mount-state/v1' || rec.id !== id || typeof rec.workspace !== 'string' || !strings(rec.mountPoints) || !strings(rec.createdDirs)) return null;
      return rec as StateRecord;
    } catch {
      return null;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Ids of the records there (names only; each is checked when read). */
  ids(): string[] {
    if (!this.usable()) return [];
    try {
      return fs.readdirSync(this.dir).filter((n) => n.endsWith('.json') && ID_RE.test(n.slice(0, -5))).map((n) => n.slice(0, -5));
    } catch {
      return [];
    }
  }

  remove(id: string): void {
    if (!ID_RE.test(id)) return;
    try {
      fs.unlinkSync(this.file(id));
    } catch {
      /* gone already */
    }
  }
}
