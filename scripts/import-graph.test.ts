// Imports flow one way: no cycle between the folders (and root files) of worker/src, and the
// packages stacked protocol <- queue-client <- worker, app/ beside worker/ and never importing it.
// The controls build small trees that break each rule and check that the checker says so, and add
// one arrow to the real tree's graph to show a cycle through real imports is caught too.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkImports, REPO } from './import-graph.js';

let scratch: string;

async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(scratch, 'tree-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'import-graph-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('the repository', () => {
  const report = checkImports(REPO);

  it('has no cycle between worker/src folders', () => {
    expect(report.graph.arrows.size).toBeGreaterThan(5); // it read the real tree
    expect(report.cycles).toEqual([]);
  });

  it('keeps protocol <- queue-client <- worker, and app/ never imports worker/', () => {
    expect(report.packageViolations).toEqual([]);
  });

  it('control: one arrow back from image-store/ to builder/ closes a cycle through the real imports', () => {
    const from = join(REPO, 'worker/src/image-store/store.ts');
    const to = join(REPO, 'worker/src/builder/build.ts');
    const broken = checkImports(REPO, [{ from, to }]);
    expect(broken.cycles.join('\n')).toMatch(/cycle: .*builder\/.*image-store\//);
    expect(broken.cycles.join('\n')).toContain('worker/src/image-store/store.ts imports worker/src/builder/build.ts');
  });
});

describe('the checker (controls)', () => {
  it('finds a cycle between two folders, through a type-only import and an import()', async () => {
    const root = await tree({
      'worker/src/a/x.ts': "import type { Y } from '../b/y.js';\nexport type X = Y;\n",
      'worker/src/b/y.ts': "export type Y = number;\nexport const later = () => import('../c/z.js');\n",
      'worker/src/c/z.ts': "// import { nothing } from '../a/x.js' (a comment is not an import)\nexport { type X } from '../a/x.js';\n",
      'worker/src/b/y.test.ts': "import '../a/x.js';\n",
    });
    const report = checkImports(root);
    expect(report.cycles).toHaveLength(1);
    expect(report.cycles[0]).toMatch(/^cycle: a\/, b\/, c\//);
  });

  it('finds none where arrows only go down, and tests may reach anywhere', async () => {
    const root = await tree({
      'worker/src/a/x.ts': "import { y } from '../b/y.js';\nexport const x = y;\n",
      'worker/src/b/y.ts': 'export const y = 1;\n',
      'worker/src/b/y.test.ts': "import { x } from '../a/x.js';\nvoid x;\n",
      'worker/src/b/test-support/helper.ts': "export { x } from '../../a/x.js';\n",
    });
    expect(checkImports(root).cycles).toEqual([]);
  });

  it('finds a root file of worker/src in a cycle with a folder', async () => {
    const root = await tree({
      'worker/src/config.ts': "import { a } from './a/index.js';\nexport const c = a;\n",
      'worker/src/a/index.ts': "import { c } from '../config.js';\nexport const a = 1;\nvoid c;\n",
    });
    expect(checkImports(root).cycles[0]).toMatch(/^cycle: a\/, config\.ts/);
  });

  it('finds imports against the package order, in NodeNext and bundler spellings', async () => {
    const root = await tree({
      'protocol/jobs.ts': "import { q } from '../queue-client/names.js';\nexport const j = q;\n",
      'queue-client/names.ts': "import { w } from '../worker/src/limits.js';\nexport const q = w;\n",
      'worker/src/limits.ts': "import { j } from '../../protocol/jobs.js';\nexport const w = 1;\nvoid j;\n",
      'app/src/page.tsx': "import { w } from '../../worker/src/limits';\nexport default w;\n",
      'app/server/gateway.ts': "import { q } from '../../queue-client/names.js';\nexport const g = q;\n",
    });
    const violations = checkImports(root).packageViolations;
    expect(violations).toHaveLength(3);
    expect(violations.join('\n')).toContain('protocol/jobs.ts imports queue-client/names.ts');
    expect(violations.join('\n')).toContain('queue-client/names.ts imports worker/src/limits.ts');
    expect(violations.join('\n')).toContain('app/src/page.tsx imports worker/src/limits.ts');
  });
});
