/** Runs `layerscope inspect ROOT --container web --format json` on a hand-made data root; returns exit, risks, problems. */
import { containerRoot } from './helpers.js';
import { assertNoCrash, runCli, tempDir } from '../sources/archive/hostile-helpers.js';

export interface Inspected {
  code: number | null;
  findings: { code: string; field: string; value: string; severity: string }[];
  complete: boolean | null;
  problems: { severity: string; code: string }[];
  text: string;
}

export async function inspectContainer(config: object | string, host: object | string | null): Promise<Inspected> {
  const { dir, cleanup } = tempDir();
  try {
    const root = containerRoot(dir, config, host);
    const r = await runCli(['inspect', root, '--container', 'web', '--format', 'json']);
    assertNoCrash(r);
    const t = await runCli(['inspect', root, '--container', 'web']);
    assertNoCrash(t);
    const j = JSON.parse(r.stdout) as { risks: { complete: boolean; findings: Inspected['findings'] } | null; problems: Inspected['problems'] };
    return { code: r.code, findings: j.risks?.findings ?? [], complete: j.risks?.complete ?? null, problems: j.problems, text: t.stdout };
  } finally {
    cleanup();
  }
}
