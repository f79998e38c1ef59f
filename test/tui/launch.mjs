#!/usr/bin/env node
// Runs the built TUI command like `layerscope [SOURCE]` would, for as long as src/cli/commands/index.ts does not
// register it yet (the e2e test prefers `node bin/layerscope.js` once it does).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { tuiCommand } = await import(path.join(ROOT, 'dist/cli/commands/tui.js'));
const { parseArgs } = await import(path.join(ROOT, 'dist/cli/args.js'));
const io = { stdout: process.stdout, stderr: process.stderr, isTTY: !!process.stdout.isTTY, env: process.env };
try {
  process.exitCode = await tuiCommand.run(parseArgs(process.argv.slice(2), tuiCommand), io);
} catch (err) {
  process.stderr.write(`layerscope: ${err?.message ?? err}\n`);
  process.exitCode = 3;
}
