// The repository's imports as a graph of units, and the rules they must keep: no cycle between the
// folders of worker/src, and the packages stacked protocol <- queue-client <- worker, with app/ never
// importing worker/. Read with TypeScript's own import scanner (no regexes over comments and strings).
// Run `npx tsx scripts/import-graph.ts` to print the folder arrows and anything that breaks a rule.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const SOURCE = /\.(ts|tsx|mts|mjs)$/;
const SKIP_DIRS = new Set(['node_modules', '.next', 'dist', '.data', 'test-support']);
/** Tests and their helpers may reach across: only the code that ships has a direction. */
const isTest = (file: string): boolean => /\.test\.tsx?$/.test(file) || file.split(sep).includes('test-support');

/** One import of one file: `to` is resolved to a file of the tree, or null (a package, or not found). */
export interface ImportEdge {
  from: string;
  to: string;
}

export function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name) && !entry.name.startsWith('.')) walk(join(dir, entry.name));
      } else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts') && !isTest(join(dir, entry.name))) {
        out.push(join(dir, entry.name));
      }
    }
  };
  walk(root);
  return out.sort();
}

/** A relative specifier as NodeNext writes it (`./x.js` for x.ts) or as a bundler does (`./x`, `./dir`). */
function resolveSpecifier(file: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(file), spec);
  const candidates = [base, base.replace(/\.(m?)js$/, '.$1ts'), base.replace(/\.js$/, '.tsx'), `${base}.ts`, `${base}.tsx`, join(base, 'index.ts')];
  for (const candidate of candidates) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}

/** Every import, re-export and import() of the files, type-only ones included: they tie concerns too. */
export function importEdges(files: readonly string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const imported of info.importedFiles) {
      const to = resolveSpecifier(file, imported.fileName);
      if (to) edges.push({ from: file, to });
    }
  }
  return edges;
}

/** worker/src/<folder> for a file in a folder there, the file itself for one at worker/src's root. */
export function workerUnit(root: string, file: string): string | null {
  const rel = relative(join(root, 'worker', 'src'), file);
  if (rel.startsWith('..')) return null;
  const parts = rel.split(sep);
  return parts.length === 1 ? rel : `${parts[0]}/`;
}

/** The top-level package a file belongs to (the first folder of its path). */
export function packageOf(root: string, file: string): string {
  return relative(root, file).split(sep)[0] ?? '';
}

/**
 * Which packages each may import. Tooling (bench/, scripts/, e2e/, sandbox-native/test, and the
 * bin worker/cli.mjs, which runs scripts/build-cli.mjs) is unconstrained: only worker/src is read.
 */
export const PACKAGE_RULES: Record<string, readonly string[]> = {
  protocol: [],
  'queue-client': ['protocol'],
  worker: ['protocol', 'queue-client'],
  app: ['protocol', 'queue-client'],
};

export interface UnitGraph {
  /** unit -> units it imports, each with the file arrows behind it */
  arrows: Map<string, Map<string, ImportEdge[]>>;
}

export function unitGraph(edges: readonly ImportEdge[], unitOf: (file: string) => string | null): UnitGraph {
  const arrows = new Map<string, Map<string, ImportEdge[]>>();
  for (const edge of edges) {
    const from = unitOf(edge.from);
    const to = unitOf(edge.to);
    if (from === null || to === null || from === to) continue;
    const out = arrows.get(from) ?? new Map<string, ImportEdge[]>();
    arrows.set(from, out);
    out.set(to, [...(out.get(to) ?? []), edge]);
  }
  return { arrows };
}

/** Strongly connected components with more than one unit (Tarjan): each is a cycle of imports. */
export function cycles(graph: UnitGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (unit: string): void => {
    index.set(unit, index.size);
    low.set(unit, index.get(unit)!);
    stack.push(unit);
    onStack.add(unit);
    for (const next of graph.arrows.get(unit)?.keys() ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(unit, Math.min(low.get(unit)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(unit, Math.min(low.get(unit)!, index.get(next)!));
      }
    }
    if (low.get(unit) !== index.get(unit)) return;
    const component: string[] = [];
    for (;;) {
      const member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
      if (member === unit) break;
    }
    if (component.length > 1) found.push(component.sort());
  };
  for (const unit of [...graph.arrows.keys()].sort()) if (!index.has(unit)) visit(unit);
  return found;
}

/** A cycle told as the arrows inside it, each with one file import that makes it. */
export function describeCycle(root: string, graph: UnitGraph, component: readonly string[]): string {
  const members = new Set(component);
  const lines: string[] = [];
  for (const from of component) {
    for (const [to, edges] of graph.arrows.get(from) ?? []) {
      if (!members.has(to)) continue;
      const e = edges[0]!;
      lines.push(`  ${from} -> ${to} (${relative(root, e.from)} imports ${relative(root, e.to)}${edges.length > 1 ? `, and ${edges.length - 1} more` : ''})`);
    }
  }
  return `cycle: ${component.join(', ')}\n${lines.join('\n')}`;
}

/** Imports from one package into another its rule does not list. */
export function packageViolations(root: string, edges: readonly ImportEdge[]): string[] {
  const out: string[] = [];
  for (const edge of edges) {
    const from = packageOf(root, edge.from);
    const to = packageOf(root, edge.to);
    const allowed = PACKAGE_RULES[from];
    if (from === to || allowed === undefined || allowed.includes(to)) continue;
    out.push(`${relative(root, edge.from)} imports ${relative(root, edge.to)} (${from}/ may import ${allowed.length ? allowed.map((p) => `${p}/`).join(', ') : 'no other package'})`);
  }
  return out;
}

export interface ImportReport {
  graph: UnitGraph;
  cycles: string[];
  packageViolations: string[];
}

/** The rules checked over the tree at `root` (the repository, or a test's copy of a layout). */
export function checkImports(root: string, extra: readonly ImportEdge[] = []): ImportReport {
  const files = ['protocol', 'queue-client', join('worker', 'src'), 'app']
    .map((p) => join(root, p))
    .filter((dir) => statSync(dir, { throwIfNoEntry: false })?.isDirectory())
    .flatMap(sourceFiles);
  const edges = [...importEdges(files), ...extra];
  const graph = unitGraph(edges, (file) => workerUnit(root, file));
  return {
    graph,
    cycles: cycles(graph).map((c) => describeCycle(root, graph, c)),
    packageViolations: packageViolations(root, edges),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const report = checkImports(REPO);
  for (const [from, out] of [...report.graph.arrows].sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`worker/src/${from} -> ${[...out.keys()].sort().join(' ')}`);
  }
  for (const line of [...report.cycles, ...report.packageViolations]) console.log(line);
  process.exitCode = report.cycles.length + report.packageViolations.length > 0 ? 1 : 0;
}
