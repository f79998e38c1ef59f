// A cheap fingerprint of a tree (names, types, sizes, mtimes, inodes; no content, no xattrs), to tell when an
// engine has stopped writing into its data root. Plain JS: used by test/run.mjs and by test/support/engine.ts.
import { createHash } from 'node:crypto';
import fs from 'node:fs';

export function quickFingerprint(dir) {
  const h = createHash('sha256');
  const walk = (p) => {
    let kids;
    try {
      kids = fs.readdirSync(p, { withFileTypes: true, encoding: 'buffer' });
    } catch {
      return;
    }
    for (const k of kids) {
      const c = Buffer.concat([p, Buffer.from('/'), k.name]);
      try {
        const st = fs.lstatSync(c, { bigint: true });
        h.update(c).update(`|${st.mode}|${st.size}|${st.mtimeNs}|${st.ino}\n`);
        if (k.isDirectory()) walk(c);
      } catch {
        h.update(c).update('|gone\n');
      }
    }
  };
  walk(Buffer.from(dir));
  return h.digest('hex');
}
