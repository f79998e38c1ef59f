#!/usr/bin/env -S node --max-semi-space-size=64
// Thin shim: the real entry point is compiled TypeScript (npm run build).
// --max-semi-space-size: with a large analysis in memory, Node's default young generation roughly halves the
// TUI's keypress speed (bench/tui.mjs). NODE_ENV: React's development checks cost as much again.
process.env.NODE_ENV ??= 'production';
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('layerscope: not built yet; run `npm run build` first\n');
    process.exit(2);
  }
  throw err;
});
