import * as fs from 'node:fs';
import { flagBool, flagString, type Command } from '../command.js';
import { EXIT } from '../command.js';
import { UsageError } from '../../core/model/errors.js';
import type { Source } from '../../core/model/source.js';
import { openSource } from '../../core/sources/open.js';
import { analyzeImage } from '../../core/analysis/analyze.js';
import { compareImages, type ContentComparer } from '../../core/analysis/compare.js';
import { contentReader, hashContent } from '../../core/export/content.js';
import { compareJson, compareText } from '../../report/compare.js';
import { selectImages } from './ci.js';

/** `SOURCE#REF` → [SOURCE, REF]; a path that itself exists with its '#' wins. */
export function splitSourceRef(arg: string): { source: string; ref: string | undefined } {
  const i = arg.lastIndexOf('#');
  if (i <= 0 || fs.existsSync(arg)) return { source: arg, ref: undefined };
  return { source: arg.slice(0, i), ref: arg.slice(i + 1) || undefined };
}

export const diffCommand: Command = {
  name: 'diff',
  summary: 'compare two images (any sources): shared layers, then files added, removed, changed',
  usage: [
    'layerscope diff SOURCE_A[#REF] SOURCE_B[#REF] [--content] [--format text|json]',
    'layerscope diff SOURCE_A SOURCE_B --image-a REF --image-b REF [--content] [--format text|json]',
    'layerscope diff SOURCE --image-a REF --image-b REF [--content] [--format text|json]',
  ],
  flags: {
    'image-a': { value: true, help: 'image in A (instead of A#REF)' },
    'image-b': { value: true, help: 'image in B (instead of B#REF)' },
    content: { value: false, help: 'hash same-size files (sha256) instead of trusting size+mtime; data roots, archive files, OCI dirs' },
    format: { value: true, help: 'text (default) or json' },
    platform: { value: true, help: 'os/arch[/variant] for multi-platform archives' },
  },
  async run(args, io) {
    const format = flagString(args, 'format') ?? 'text';
    if (format !== 'text' && format !== 'json') throw new UsageError(`--format ${format}: expected text or json`);
    const pos = args.positional;
    if (pos.length === 1 && flagString(args, 'image-a') && flagString(args, 'image-b')) pos.push(pos[0]!);
    if (pos.length !== 2) throw new UsageError('expected two sources: A B (SOURCE or SOURCE#REF)');
    const A = splitSourceRef(pos[0]!);
    const B = splitSourceRef(pos[1]!);
    const refA = flagString(args, 'image-a') ?? A.ref;
    const refB = flagString(args, 'image-b') ?? B.ref;
    const platform = flagString(args, 'platform');
    const opened = new Map<string, Source>();
    const open = async (loc: string) => {
      let s = opened.get(loc);
      if (!s) {
        s = await openSource(loc, platform ? { platform } : {});
        opened.set(loc, s);
      }
      return s;
    };
    try {
      const sa = await open(A.source);
      const sb = await open(B.source);
      const ia = selectImages(sa, refA ? [refA] : [])[0]!;
      const ib = selectImages(sb, refB ? [refB] : [])[0]!;
      const aa = await analyzeImage(sa, ia);
      const ab = await analyzeImage(sb, ib);
      let comparer: ContentComparer | undefined;
      const useContent = flagBool(args, 'content');
      if (useContent) {
        const ra = contentReader(sa, ia);
        const rb = contentReader(sb, ib);
        const missing = [ra ? null : A.source, rb ? null : B.source].filter(Boolean);
        if (missing.length) throw new UsageError(`--content needs file contents (data roots, archive files not compressed as a whole, OCI layout dirs); not available for ${missing.join(', ')} (read once: save it to a file first)`);
        const cache = new Map<string, Promise<string>>();
        const hash = (side: 'a' | 'b', layer: number, path: string, size: number) => {
          const img = side === 'a' ? ia : ib;
          const key = `${img.layers[layer]!.diffId}\0${path}`;
          let h = cache.get(key);
          if (!h) {
            h = hashContent(side === 'a' ? ra! : rb!, img, layer, path, size);
            cache.set(key, h);
          }
          return h;
        };
        comparer = async (x, y) => (await hash('a', x.layer, x.path, x.attrs.size)) === (await hash('b', y.layer, y.path, y.attrs.size));
      }
      const c = await compareImages(aa, ab, comparer ? { content: comparer } : {});
      const labelA = A.source + (refA ? `#${refA}` : '');
      const labelB = B.source + (refB ? `#${refB}` : '');
      if (format === 'json') io.stdout.write(JSON.stringify(compareJson(c, { labelA, labelB, content: useContent }), null, 2) + '\n');
      else io.stdout.write(compareText(c, { labelA, labelB, contentNote: useContent ? 'content: same-size files compared by sha256' : 'content: files of the same size and mtime taken as equal (--content to compare bytes)' }));
      const problems = [...aa.problems, ...ab.problems];
      return problems.some((p) => p.severity === 'error') ? EXIT.evidenceProblems : EXIT.ok;
    } finally {
      for (const s of opened.values()) await s.close();
    }
  },
};
