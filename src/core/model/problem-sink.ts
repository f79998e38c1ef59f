import { problem, type Problem, type Severity } from './types.js';

const RANK: Record<Severity, number> = { info: 0, warning: 1, error: 2 };

/**
 * Problems of one code listed one by one up to a bound, then counted in a single summary problem kept up to date
 * as more come: evidence holding a million bad names must not become a million problems (memory, and a report
 * nobody can read). The summary is written into the list when the bound is passed, so problems noted later (a
 * lazily read part of the source) are counted too.
 */
export class ProblemSink {
  private readonly counts = new Map<string, { n: number; summary: Problem | null }>();

  constructor(
    readonly out: Problem[],
    private readonly max = 100,
    private readonly location: string | null = null,
  ) {}

  /** `what` names the kind in the summary ("duplicated member names"); default "problems of this kind". */
  add(p: Problem, what = 'problems of this kind'): void {
    let c = this.counts.get(p.code);
    if (!c) this.counts.set(p.code, (c = { n: 0, summary: null }));
    if (++c.n <= this.max) {
      this.out.push(p);
      return;
    }
    if (!c.summary) this.out.push((c.summary = problem(p.severity, p.code, '', this.location)));
    if (RANK[p.severity] > RANK[c.summary.severity]) c.summary.severity = p.severity;
    c.summary.message = `${c.n - this.max} more ${what} (not listed one by one)`;
  }

  readonly note = (severity: Severity, code: string, message: string, path: string | null): void => this.add(problem(severity, code, message, path));
}
