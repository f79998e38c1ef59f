/**
 * The layering, checked: cli -> {tui, report} -> core. Core holds no UI and no process control, so the TUI,
 * the JSON/CI modes and the tests share one core (and library users can embed it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SRC = path.resolve(import.meta.dirname, '../src');

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : /\.tsx?$/.test(e.name) ? [p] : [];
  });
}

function imports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2]!);
}

/** The top-level src/ folder an import lands in, or the package name. */
function target(file: string, spec: string): string {
  if (!spec.startsWith('.')) return spec.split('/')[0]!.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
  return path.relative(SRC, path.resolve(path.dirname(file), spec)).split(path.sep)[0]!;
}

const RULES: Record<string, { mayImport: string[]; mustNotUse: RegExp[] }> = {
  core: { mayImport: ['core'], mustNotUse: [/\bprocess\.exit\b/, /\bprocess\.stdout\b/, /\bconsole\.log\b/] },
  report: { mayImport: ['core', 'report'], mustNotUse: [/\bprocess\.exit\b/] },
  tui: { mayImport: ['core', 'report', 'tui'], mustNotUse: [/\bprocess\.exit\b/] },
  cli: { mayImport: ['core', 'report', 'tui', 'cli'], mustNotUse: [] },
};
const UI_PACKAGES = new Set(['ink', 'react', 'ink-testing-library', 'react/jsx-runtime']);

test('core imports nothing above it and no UI; report and tui never import the cli', () => {
  const violations: string[] = [];
  for (const file of files(SRC)) {
    const layer = path.relative(SRC, file).split(path.sep)[0]!;
    const rule = RULES[layer];
    if (!rule) continue;
    for (const spec of imports(file)) {
      const t = target(file, spec);
      const local = spec.startsWith('.');
      if (local && !rule.mayImport.includes(t)) violations.push(`${path.relative(SRC, file)} imports ${spec} (${layer} -> ${t})`);
      if (!local && layer !== 'tui' && layer !== 'cli' && UI_PACKAGES.has(t)) violations.push(`${path.relative(SRC, file)} imports UI package ${spec}`);
    }
    // Code only: comments may well explain why a layer does not call process.exit.
    const text = fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
    for (const re of rule.mustNotUse) if (re.test(text)) violations.push(`${path.relative(SRC, file)} uses ${re.source}`);
  }
  assert.deepEqual(violations, []);
});

test('every runtime dependency in package.json is imported by src/ (none kept for nothing)', () => {
  const pkg = JSON.parse(fs.readFileSync(path.resolve(SRC, '../package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const used = new Set<string>();
  for (const file of files(SRC)) for (const spec of imports(file)) if (!spec.startsWith('.') && !spec.startsWith('node:')) used.add(target(file, spec));
  const unused = Object.keys(pkg.dependencies).filter((d) => !used.has(d));
  assert.deepEqual(unused, [], 'dependencies no code imports: remove them (the README says why a named package is not used)');
});
