import { flagBool, flagString, type Command } from '../command.js';
import { UsageError } from '../../core/model/errors.js';
import { cleanLayerPath, textToPath } from '../../core/model/path.js';
import { openSource } from '../../core/sources/open.js';
import { catTarget } from '../../core/export/cat.js';
import { HexDump } from '../../report/hexdump.js';
import { isBinary, SNIFF } from '../../report/content-text.js';
import { terminalSafe } from '../../report/logs.js';
import { showPath } from '../../report/format.js';
import { sinkOf } from '../output.js';
import { parseLayer, requireReader } from './extract.js';
import { layerLabel, openTarget, TARGET_FLAGS } from './target.js';
import { IMAGE_ROOT_FLAG, SOURCE_FLAG, sourceLocation } from '../source.js';

export const catCommand: Command = {
  name: 'cat',
  summary: "a file's bytes as they are at a layer (a version a later layer deleted or overwrote included), to stdout",
  usage: [
    'layerscope cat SOURCE [--image REF | --container X] [--layer N] PATH [--hex | --raw]',
    'Says on stderr which layer the bytes come from. On a terminal a binary file is refused (--hex dumps it, --raw',
    'writes it) and a text file has its control characters escaped (an escape sequence in evidence must not drive',
    'your terminal); to a pipe or file the bytes are written as they are.',
  ],
  flags: {
    ...SOURCE_FLAG,
    ...IMAGE_ROOT_FLAG,
    ...TARGET_FLAGS,
    layer: { value: true, help: 'the tree after this layer (0 = base, -1 = top; default top)' },
    hex: { value: false, help: 'a hex dump (hexdump -C format) instead of the bytes' },
    raw: { value: false, help: 'the bytes as they are, even to a terminal' },
    platform: { value: true, help: 'os/arch[/variant] for multi-platform archives' },
  },
  async run(args, io) {
    const [src, file, ...rest] = args.positional;
    if (!src || !file || rest.length) throw new UsageError('expected SOURCE and one PATH');
    if (!file.startsWith('/')) throw new UsageError(`${JSON.stringify(file)}: give the path as an absolute path in the image (/etc/passwd)`);
    const hex = flagBool(args, 'hex');
    const raw = flagBool(args, 'raw');
    if (hex && raw) throw new UsageError('give --hex or --raw, not both');
    let path: string;
    try {
      path = cleanLayerPath(textToPath(file));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const platform = flagString(args, 'platform');
    const source = await openSource(await sourceLocation(src, args, io), platform ? { platform } : {});
    try {
      const t = await openTarget(source, args, { content: true });
      const layer = parseLayer(flagString(args, 'layer'), t.image);
      const at = catTarget(t.analysis, path, layer);
      const reader = requireReader(source, t.image, 'cat');
      try {
        const size = at.attrs.size;
        io.stderr.write(`layerscope cat: ${showPath(path)}: ${size} bytes, from ${layerLabel(t, at.layer)} of ${t.label}${at.layer !== layer ? `, visible at layer ${layer}` : ''}\n`);
        const write = sinkOf(io.stdout);
        const dump = hex ? new HexDump() : null;
        // On a terminal, bytes are shown only when they are text, made safe as the logs and the TUI's viewer make
        // them (terminalSafe: controls, C1, bidi and zero-width characters escaped; lines and tabs kept), unless
        // --raw. A character cut at the end of a chunk waits for the next one.
        const text = !raw && !hex && io.isTTY;
        let carry: Buffer = Buffer.alloc(0);
        let first = true;
        for await (const chunk of reader.read(t.image, at.layer, at.storedAt, size)) {
          if (dump) await write(dump.push(chunk));
          else if (text) {
            if (first && isBinary(chunk.subarray(0, SNIFF))) throw new UsageError(`${showPath(path)} is binary: refusing to write it to a terminal (--hex for a dump, --raw to write it anyway, or redirect stdout)`);
            const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
            const keep = cutCharacter(buf);
            await write(terminalSafe(buf.subarray(0, buf.length - keep)));
            carry = Buffer.from(buf.subarray(buf.length - keep));
          } else await write(chunk);
          first = false;
        }
        if (text) await write(terminalSafe(carry));
        if (dump) await write(dump.end());
      } finally {
        reader.close?.();
      }
      return 0;
    } finally {
      await source.close();
    }
  },
};

/** How many bytes at the end of `b` begin a UTF-8 character that the next chunk completes (0 to 3). */
function cutCharacter(b: Buffer): number {
  for (let k = 1; k <= Math.min(3, b.length); k++) {
    const c = b[b.length - k]!;
    if ((c & 0xc0) === 0x80) continue;
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > k ? k : 0;
  }
  return 0;
}
