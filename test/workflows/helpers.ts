/** Run a workflow command in-process as src/cli/run.ts does (same parser, same error → exit code mapping). */
import { PassThrough } from 'node:stream';
import { parseArgs } from '../../src/cli/args.js';
import { EXIT, type Command } from '../../src/cli/command.js';
import { LayerscopeError, NotFoundError, SourceError, UsageError } from '../../src/core/model/errors.js';

export interface CmdResult {
  code: number;
  stdout: string;
  stdoutBuffer: Buffer;
  stderr: string;
}

export async function runCmd(command: Command, argv: string[]): Promise<CmdResult> {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  out.on('data', (d) => o.push(d));
  err.on('data', (d) => e.push(d));
  let code: number;
  try {
    code = await command.run(parseArgs(argv, command), { stdout: out, stderr: err, isTTY: false, env: process.env });
  } catch (x) {
    if (x instanceof UsageError) code = EXIT.usage;
    else if (x instanceof SourceError || x instanceof NotFoundError || x instanceof LayerscopeError) code = EXIT.sourceError;
    else throw x;
    err.write(String((x as Error).message) + '\n');
  }
  await new Promise((r) => setImmediate(r));
  const stdoutBuffer = Buffer.concat(o);
  return { code, stdout: stdoutBuffer.toString('utf8'), stdoutBuffer, stderr: Buffer.concat(e).toString('utf8') };
}
