import type { CiReportInput } from './ci.js';
import { formatBytes, shortId } from './format.js';

/** XML text: escape markup and drop characters XML 1.0 cannot hold (control chars from evidence names). */
export function xmlEscape(s: string): string {
  return s
    .replace(/[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/**
 * JUnit XML (the dialect Jenkins, GitLab and GitHub reporters read): one <testsuite> per image, one <testcase>
 * per rule; a failed rule is a <failure>, a disabled rule <skipped/>. Evidence errors become one extra failing
 * test case, so a pipeline cannot pass on figures computed from unreadable layers without saying so.
 */
export function ciJunit(input: CiReportInput): string {
  const errors = input.problems.filter((p) => p.severity === 'error');
  let tests = 0;
  let failures = 0;
  let skipped = 0;
  const suites: string[] = [];
  for (const { result: r } of input.results) {
    const name = r.image.tags[0] ?? shortId(r.image.id);
    const cls = `layerscope.ci.${name}`;
    const cases: string[] = [];
    let sf = 0;
    let ss = 0;
    for (const rule of r.rules) {
      const attrs = `classname="${xmlEscape(cls)}" name="${xmlEscape(rule.name)}" time="0"`;
      if (rule.status === 'disabled') {
        ss++;
        cases.push(`    <testcase ${attrs}>\n      <skipped message="disabled"/>\n    </testcase>`);
      } else if (rule.status === 'fail') {
        sf++;
        cases.push(`    <testcase ${attrs}>\n      <failure type="threshold" message="${xmlEscape(rule.message)}">${xmlEscape(detail(input, r))}</failure>\n    </testcase>`);
      } else cases.push(`    <testcase ${attrs}/>`);
    }
    tests += r.rules.length;
    failures += sf;
    skipped += ss;
    suites.push(
      `  <testsuite name="${xmlEscape(`layerscope ci: ${name}`)}" id="${xmlEscape(r.image.id)}" tests="${r.rules.length}" failures="${sf}" errors="0" skipped="${ss}" time="0">\n` +
        `    <properties>\n` +
        `      <property name="image.id" value="${xmlEscape(r.image.id)}"/>\n` +
        `      <property name="base.layers" value="${r.base.count}"/>\n` +
        `      <property name="base.method" value="${r.base.method}"/>\n` +
        `      <property name="bytes" value="${r.metrics.bytes}"/>\n` +
        `      <property name="hiddenBytes" value="${r.metrics.hiddenBytes}"/>\n` +
        `      <property name="efficiency" value="${r.metrics.efficiency}"/>\n` +
        `    </properties>\n` +
        cases.join('\n') +
        `\n  </testsuite>`,
    );
  }
  if (errors.length) {
    tests++;
    failures++;
    const msg = `${errors.length} error(s) in the evidence`;
    const body = errors.map((p) => `${p.code}: ${p.message}${p.path ? ` (${p.path})` : ''}`).join('\n');
    suites.push(
      `  <testsuite name="layerscope ci: evidence" tests="1" failures="1" errors="0" skipped="0" time="0">\n` +
        `    <testcase classname="layerscope.ci.evidence" name="readable" time="0">\n      <failure type="evidence" message="${xmlEscape(msg)}">${xmlEscape(body)}</failure>\n    </testcase>\n  </testsuite>`,
    );
  }
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<testsuites name="layerscope ci" tests="${tests}" failures="${failures}" errors="0" skipped="${skipped}" time="0">\n` +
    suites.join('\n') +
    `\n</testsuites>\n`
  );
}

function detail(input: CiReportInput, r: CiReportInput['results'][number]['result']): string {
  const m = r.metrics;
  const found = input.results.find((x) => x.result === r);
  const lines = [
    `bytes ${m.bytes} (${formatBytes(m.bytes)}), visible ${m.visibleBytes}, hidden ${m.hiddenBytes}, efficiency ${m.efficiency}`,
    `base ${r.base.count} layer(s): ${r.base.note}`,
    `user bytes ${m.userBytes}, user-hidden ${m.userHiddenBytes}`,
  ];
  for (const h of found?.analysis.hidden.slice(0, 10) ?? []) lines.push(`${h.bytes} B  /${Buffer.from(h.path, 'latin1').toString('utf8')}  (layer ${h.layer}, ${h.reason} by layer ${h.by})`);
  return lines.join('\n');
}
