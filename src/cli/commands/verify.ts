import { EXIT, flagBool, flagList, type Command, flagChoice } from '../command.js';
import { UsageError } from '../../core/model/errors.js';
import { openSource } from '../../core/sources/open.js';
import { verifySource } from '../../core/verify/index.js';
import { InterruptedError } from '../../core/verify/mount/index.js';
import { verifyJson, verifyText } from '../../report/verify.js';
import { SOURCE_FLAG, sourceLocation } from '../source.js';

export const verifyCommand: Command = {
  name: 'verify',
  summary: "check layers against tampering (tar-split integrity) and the kernel's view of each stack (read-only overlay mount)",
  usage: [
    'layerscope verify SOURCE [--image REF]... [--container NAME]... [--all] [--no-mount] [--no-integrity] [--format text|json]',
    'Without --image/--container, every image and container is verified (as with --all). For each layer: its',
    'tar-split reassembles to its diffID and its files match their headers (data roots), and every stack (each',
    "layer's top-of-stack, each container) mounted read-only (lowerdir only, no upper/work dir) shows the same",
    'files as our reading of the disk and as the image as built (tar-split; with --hash, the same bytes too).',
    'Mounting needs root (else an unprivileged user namespace; else it is skipped and said so).',
  ],
  flags: {
    ...SOURCE_FLAG,
    'image-root': { value: true, arg: 'DIR', help: 'not taken here: verify checks one store at a time (report --image-root DIR says where each store is)' },
    image: { value: true, repeat: true, help: 'image to verify (tag, ID or ID prefix)' },
    container: { value: true, repeat: true, help: 'container to verify (name or ID prefix): its image layers, init and RW layers' },
    all: { value: false, help: 'every image and container of the source' },
    'no-mount': { value: false, help: 'skip the mount check' },
    'no-integrity': { value: false, help: 'skip the integrity check' },
    'top-only': { value: false, help: "mount only each image's top layer stack, not every layer's" },
    hash: { value: false, help: "also hash every file through the mount: CRC-64 against tar-split (as built), sha256 against the layer's file" },
    'no-as-built': { value: false, help: "compare the kernel's view with our reading of the disk only, not with the image as built (tar-split)" },
    format: { value: true, help: 'text (default) or json' },
  },
  async run(args, io) {
    const format = flagChoice(args, 'format', ['text', 'json']);
    // Layers are checked once per chainID: across several stores a copy in the second store would go unchecked.
    if (args.flags['image-root'] !== undefined) throw new UsageError('verify checks one store at a time: name it as SOURCE (layerscope report --image-root DIR lists the stores found and where each is)');
    if (args.positional.length !== 1) throw new UsageError('expected one SOURCE (e.g. /var/lib/docker)');
    if (flagBool(args, 'no-mount') && flagBool(args, 'no-integrity')) throw new UsageError('--no-mount and --no-integrity together leave nothing to verify');
    const source = await openSource(await sourceLocation(args.positional[0]!, args, io));
    try {
      const report = await verifySource(source, {
        images: flagList(args, 'image'),
        containers: flagList(args, 'container'),
        all: flagBool(args, 'all'),
        mount: !flagBool(args, 'no-mount'),
        integrity: !flagBool(args, 'no-integrity'),
        everyLayer: !flagBool(args, 'top-only'),
        hash: flagBool(args, 'hash'),
        asBuilt: !flagBool(args, 'no-as-built'),
        onProgress: io.isTTY ? (what) => io.stderr.write(`\r\x1b[K${what.slice(0, 100)}`) : undefined,
      });
      if (io.isTTY) io.stderr.write('\r\x1b[K');
      if (format === 'json') io.stdout.write(JSON.stringify(verifyJson(report), null, 2) + '\n');
      else io.stdout.write(verifyText(report));
      // Everything checked agrees, but the store itself has error-severity problems (a planted l/ link, a
      // layerdb record that contradicts the chain...): the project-wide "finished, with evidence errors" code.
      return !report.ok ? EXIT.failed : report.problems.length ? EXIT.evidenceProblems : EXIT.ok;
    } catch (err) {
      // A signal during a mount: it was undone and the workspace removed before this reaches us (when the
      // CLI keeps its own signal listener; otherwise the process has already died of the signal).
      if (err instanceof InterruptedError) {
        io.stderr.write(`layerscope verify: ${err.message}; the mount was undone\n`);
        return EXIT.interrupted;
      }
      throw err;
    } finally {
      await source.close();
    }
  },
};
