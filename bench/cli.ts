// The command line's start-up against Docker's and buildah's, same run, through farm-bench
// (whole process, A/B paired, medians): `layercake --help` vs `docker --help` (docker's client
// answers it without a daemon), `layercake images` and `ps -a` vs buildah's, and a cached
// rebuild of a small Dockerfile through each CLI. Target (issue 14): ≤ 100 ms median for
// images, ps and --help; a cached rebuild ≤ 0.5× buildah's.
//
// Run: npx tsx bench/cli.ts [runs]     (as root, after setup put `layercake` on the PATH)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const runs = String(Number(process.argv[2] ?? 20));
const layercake = 'layercake';

function pair(title: string, a: string[], b: string, timeout = 300): void {
  process.stdout.write(`\n## ${title}\n`);
  const out = execFileSync('farm-bench', ['-n', runs, '--warmup', '2', '--timeout', String(timeout), '--vs', b, '--', ...a], {
    encoding: 'utf8',
    maxBuffer: 16 << 20,
  });
  // The medians and the A/B ratios are the figures; the rest is spread.
  for (const line of out.split('\n')) if (/^(A|B) wall|^A\/B (wall|cpu)|^\s+min/.test(line)) process.stdout.write(`${line}\n`);
}

pair('--help: layercake (A) vs docker (B)', [layercake, '--help'], 'docker --help');
pair('images: layercake (A) vs buildah (B)', [layercake, 'images'], 'buildah images');
pair('ps -a: layercake (A) vs buildah containers (B)', [layercake, 'ps', '-a'], 'buildah containers');

// A cached rebuild: both built once first, then every timed run is all cache hits.
const context = mkdtempSync(join(tmpdir(), 'layercake-bench-cli-'));
try {
  writeFileSync(join(context, 'Dockerfile'), 'FROM busybox\nRUN echo one > /one\nRUN echo two > /two\nCOPY hello.txt /hello.txt\n');
  writeFileSync(join(context, 'hello.txt'), 'hello\n');
  execFileSync(layercake, ['build', '-q', '-t', 'bench-cli', context], { stdio: 'ignore' });
  execFileSync('buildah', ['build', '-q', '--layers', '-t', 'bench-cli', context], { stdio: 'ignore' });
  pair('cached rebuild: layercake build (A) vs buildah build --layers (B)', [layercake, 'build', '-q', '-t', 'bench-cli', context], `buildah build -q --layers -t bench-cli ${context}`, 900);
} finally {
  rmSync(context, { recursive: true, force: true });
  execFileSync(layercake, ['rmi', 'bench-cli'], { stdio: 'ignore' });
  execFileSync('buildah', ['rmi', 'bench-cli'], { stdio: 'ignore' });
}
