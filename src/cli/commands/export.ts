import * as fs from 'node:fs';
import type { Writable } from 'node:stream';
import { EXIT, flagList, flagString, type Command } from '../command.js';
import { UsageError } from '../../core/model/errors.js';
import { openSource } from '../../core/sources/open.js';
import { analyzeImage } from '../../core/analysis/analyze.js';
import { TarWriter } from '../../core/export/tar-writer.js';
import { writeRootfs } from '../../core/export/rootfs.js';
import { safeText, showPath } from '../../report/format.js';
import { selectImages } from './ci.js';
import { parseLayer, refuseInsideEvidence, requireReader } from './extract.js';
import type { ContentReader } from '../../core/export/content.js';

export const exportCommand: Command = {
  name: 'export',
  summary: "write an image's merged filesystem (at any layer) as a tar, like docker export without a container",
  usage: ['layerscope export SOURCE [--image REF] [--layer N] -o FILE.tar|-'],
  flags: {
    image: { value: true, help: 'image (default: the only image of the source)' },
    layer: { value: true, help: 'layer index, 0 = base, -1 = top (default: top)' },
    output: { value: true, help: 'output tar file, or - for stdout (-o)' },
    platform: { value: true, help: 'os/arch[/variant] for multi-platform archives' },
  },
  async run(args, io) {
    const [src, ...rest] = args.positional;
    if (!src || rest.length) throw new UsageError('expected exactly one SOURCE');
    const out = flagString(args, 'output');
    if (!out) throw new UsageError('-o FILE is required (-o - for stdout)');
    if (out === '-' && io.isTTY) throw new UsageError('refusing to write a tar to a terminal; redirect stdout or give -o FILE');
    const platform = flagString(args, 'platform');
    const source = await openSource(src, platform ? { platform } : {});
    let reader: ContentReader | null = null;
    try {
      if (out !== '-') refuseInsideEvidence(out, source);
      const image = selectImages(source, flagList(args, 'image'))[0]!;
      reader = requireReader(source, image, 'export');
      const layer = parseLayer(flagString(args, 'layer'), image);
      const a = await analyzeImage(source, image);
      let dest: Writable;
      let file: fs.WriteStream | null = null;
      if (out === '-') dest = io.stdout;
      else {
        // 'wx': never replace an existing file.
        file = fs.createWriteStream(out, { flags: 'wx' });
        await new Promise<void>((resolve, reject) => {
          file!.once('open', () => resolve());
          file!.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EEXIST' ? new UsageError(`${out} exists; not overwritten`) : e));
        });
        dest = file;
      }
      const tar = new TarWriter(dest);
      const res = await writeRootfs(a, layer, reader, tar);
      await tar.finish();
      if (file) {
        await new Promise<void>((resolve, reject) => {
          file!.once('error', reject);
          file!.end(() => resolve());
        });
      }
      const msg = `exported ${safeText(image.tags[0] ?? image.id)} at layer ${layer}: ${res.entries} entries, ${res.files} files, ${res.bytes} bytes of content, ${tar.written} bytes of tar${out === '-' ? '' : ` to ${safeText(out)}`}\n`;
      io.stderr.write(msg);
      for (const s of res.skipped) io.stderr.write(`  skipped ${showPath(s.path)}: ${s.reason}\n`);
      for (const p of res.problems) io.stderr.write(`${p.severity}: ${safeText(p.message)} (${safeText(p.path ?? '')})\n`);
      return res.problems.some((p) => p.severity === 'error') ? EXIT.evidenceProblems : EXIT.ok;
    } finally {
      reader?.close?.();
      await source.close();
    }
  },
};
