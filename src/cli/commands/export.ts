import type { Writable } from 'node:stream';
import { flagString, type Command } from '../command.js';
import { reportProblems } from '../output.js';
import { dedupe } from '../../core/analysis/host.js';
import { UsageError } from '../../core/model/errors.js';
import { openSource } from '../../core/sources/open.js';
import { TarWriter } from '../../core/export/tar-writer.js';
import { writeRootfs } from '../../core/export/rootfs.js';
import { safeText, showPath } from '../../report/format.js';
import { openTarget, TARGET_FLAGS } from './target.js';
import { parseLayer, requireReader } from './extract.js';
import { OutputFile, evidenceLocations } from '../../core/output/index.js';
import type { ContentReader } from '../../core/export/content.js';
import { IMAGE_ROOT_FLAG, SOURCE_FLAG, sourceLocation } from '../source.js';

export const exportCommand: Command = {
  name: 'export',
  summary: "write an image's or a container's merged filesystem (at any layer) as a tar, as docker export does",
  usage: ['layerscope export SOURCE [--image REF | --container X] [--layer N] -o FILE.tar|-'],
  flags: {
    ...SOURCE_FLAG,
    ...IMAGE_ROOT_FLAG,
    ...TARGET_FLAGS,
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
    const source = await openSource(await sourceLocation(src, args, io), platform ? { platform } : {});
    let reader: ContentReader | null = null;
    let file: OutputFile | null = null;
    try {
      // Checked before anything is read or created: inside or equal to the evidence, an existing file or symlink
      // at FILE, a missing directory: refused (nothing is replaced, nothing followed).
      if (out !== '-') file = OutputFile.prepare(out, { evidence: evidenceLocations(source.location) });
      const t = await openTarget(source, args, { content: true });
      const image = t.image;
      reader = requireReader(source, image, 'export');
      const layer = parseLayer(flagString(args, 'layer'), image);
      const a = t.analysis;
      const dest: Writable = file ? file.writable() : io.stdout;
      const tar = new TarWriter(dest);
      let res;
      try {
        res = await writeRootfs(a, layer, reader, tar);
        await tar.finish();
      } catch (err) {
        // A failed write to FILE is said as such (not as whatever the tar writer saw).
        if (file?.error) throw file.error;
        throw err;
      }
      const warnings = file ? await file.finish() : [];
      const msg = `exported ${t.label} at layer ${layer}: ${res.entries} entries, ${res.files} files, ${res.bytes} bytes of content, ${tar.written} bytes of tar${out === '-' ? '' : ` to ${safeText(out)}`}\n`;
      io.stderr.write(msg);
      for (const s of res.skipped) io.stderr.write(`  skipped ${showPath(s.path)}: ${s.reason}\n`);
      for (const w of warnings) io.stderr.write(`warning: ${safeText(w)}\n`);
      // What was read (the source, every layer of the stack) and what writing the content met: all said.
      return reportProblems(io, 'export', dedupe([...source.problems, ...a.problems, ...res.problems]));
    } finally {
      file?.abort();
      reader?.close?.();
      await source.close();
    }
  },
};
