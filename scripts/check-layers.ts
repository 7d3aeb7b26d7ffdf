// Enforces the layering table of DESIGN.md: which src/ folders may import which, that a folder is
// entered from outside only through its index.ts, and that there are no import cycles between files.
// Run by `npm test`; exits non-zero with one line per violation.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
const SRC = join(ROOT, 'src');

const EVERYTHING = ['lib', 'model', 'dataplane-api', 'os', 'calc', 'datastore', 'ipam', 'dataplane', 'bgp', 'cni'];
export const ALLOWED: Record<string, string[]> = {
  lib: [],
  model: ['lib'],
  'dataplane-api': ['lib', 'model'],
  os: ['lib'],
  calc: ['lib', 'model', 'dataplane-api'],
  datastore: ['lib', 'model', 'os'],
  ipam: ['lib', 'model', 'datastore'],
  dataplane: ['lib', 'model', 'dataplane-api', 'os'],
  bgp: ['lib', 'model', 'os'],
  cni: ['lib', 'model', 'datastore', 'ipam', 'os'],
  agent: EVERYTHING,
  // "everything but agent internals": the CLI may use the agent's public index only.
  cli: [...EVERYTHING, 'agent'],
  lab: [...EVERYTHING, 'agent', 'cli'],
  bin: ['agent', 'cni', 'cli', 'lib'],
};

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;

function folderOf(file: string): string | undefined {
  const rel = relative(SRC, file);
  if (rel.startsWith('..')) return undefined;
  return rel.split(sep)[0];
}

export function checkLayers(): string[] {
  const problems: string[] = [];
  const files = walk(SRC);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
    const from = folderOf(file)!;
    const edges: string[] = [];
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (!spec || !spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec);
      edges.push(target);
      const to = folderOf(target);
      const where = `${relative(ROOT, file)} imports "${spec}"`;
      if (to === undefined) { problems.push(`${where}: reaches outside src/`); continue; }
      if (to === from) continue;
      const allowed = ALLOWED[from];
      if (!allowed) { problems.push(`${where}: folder "src/${from}" is not in the layering table`); continue; }
      if (!allowed.includes(to)) problems.push(`${where}: "src/${from}" may not import "src/${to}"`);
      if (relative(join(SRC, to), target) !== 'index.ts') problems.push(`${where}: enter "src/${to}" through its index.ts`);
    }
    graph.set(file, edges);
  }
  // File-level cycle detection (tests are leaves and are skipped as cycle sources).
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 1);
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      if (!graph.has(t)) continue;
      const s = state.get(t);
      if (s === 1) {
        const cycle = stack.slice(stack.indexOf(t)).concat(t).map((x) => relative(ROOT, x));
        problems.push(`import cycle: ${cycle.join(' -> ')}`);
      } else if (s === undefined) visit(t);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const problems = checkLayers();
  for (const p of problems) console.error(`layering: ${p}`);
  if (problems.length > 0) process.exit(1);
  console.error('layering: ok');
}
