/**
 * Test entry point: runs `verify` or `whose` as the CLI would, before (and independently of) their registration
 * in src/cli/commands/index.ts. Used by tests that spawn the verifier as a real process (SIGKILL mid-run).
 *   node --import tsx test/verify/mount/cli-entry.ts verify SOURCE [flags]
 */
import { parseArgs } from '../../../src/cli/args.js';
import { EXIT } from '../../../src/cli/command.js';
import { LayerscopeError, UsageError } from '../../../src/core/model/errors.js';
import { verifyCommand } from '../../../src/cli/commands/verify.js';
import { whoseCommand } from '../../../src/cli/commands/whose.js';

const [name, ...rest] = process.argv.slice(2);
const command = name === 'whose' ? whoseCommand : verifyCommand;
const io = { stdout: process.stdout, stderr: process.stderr, isTTY: false, env: process.env };
try {
  process.exitCode = await command.run(parseArgs(rest, command), io);
} catch (err) {
  process.stderr.write(`layerscope ${command.name}: ${(err as Error).message}\n`);
  process.exitCode = err instanceof UsageError ? EXIT.usage : err instanceof LayerscopeError ? EXIT.sourceError : EXIT.failed;
}
