import { main } from './run.js';
import { EXIT, type CommandIO } from './command.js';

// Run when executed (bin/layerscope.js imports this module).
const io: CommandIO = { stdout: process.stdout, stderr: process.stderr, isTTY: !!process.stdout.isTTY, stderrTTY: !!process.stderr.isTTY, env: process.env };
// EPIPE (e.g. `| head`) is not an error for a CLI.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(EXIT.ok);
});
main(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`layerscope: ${String(err)}\n`);
    process.exitCode = EXIT.failed;
  },
);
