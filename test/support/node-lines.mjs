// The Node lines layerscope supports, and what CI runs on each. One list for test/node-matrix.mjs (which .ci/run
// calls) and test/node-lines.test.ts (which checks that package.json `engines.node` admits exactly these lines),
// so the declared engines and the tested ones cannot drift apart.
import { findTests, runsOwnEngine, usesEngines } from './test-files.mjs';

/** Node majors CI tests; the machine's own line runs everything (npm test), the others the subset below. */
export const NODE_LINES = [20, 22, 24];

/**
 * The engine-backed suites that also run on the other lines, one per kind of source. The engine suites cost
 * about a minute each and test our reading of the evidence more than the runtime; one per source kind puts every
 * reader (data-root walk in worker threads with xattrs, archive streams with gzip and zstd, containerd's bbolt)
 * under each runtime.
 */
export const ENGINE_SUITES_ON_EVERY_LINE = {
  'data root': 'test/core/docker-root.engine.test.ts',
  archive: 'test/sources/archive/engine.test.ts',
  containerd: 'test/sources/containerd/engine.test.ts',
};

/**
 * The subset run on the lines other than the machine's: every file that needs no engine, plus the suites above;
 * not the suites that start an engine of their own (podman, rootless Docker: one test user, one root), which the
 * lines run side by side would share.
 */
export function subsetFiles() {
  const pick = new Set(Object.values(ENGINE_SUITES_ON_EVERY_LINE));
  return findTests().filter((f) => pick.has(f) || (!usesEngines(f) && !runsOwnEngine(f)));
}
