import type { Runner, RunOptions, RunResult } from '../../../src/core/verify/mount/runner.js';

/** A Runner that records every call and answers from a handler (default: success, no output). */
export class FakeRunner implements Runner {
  calls: { argv: string[]; opts: RunOptions }[] = [];
  constructor(private readonly handler: (argv: string[], opts: RunOptions) => Partial<RunResult> | void = () => {}) {}
  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ argv: [...argv], opts });
    const r = this.handler([...argv], opts) ?? {};
    return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', exitCode: r.exitCode ?? 0 };
  }
  argvs(cmd?: string): string[][] {
    return this.calls.map((c) => c.argv).filter((a) => !cmd || a[0] === cmd);
  }
}
