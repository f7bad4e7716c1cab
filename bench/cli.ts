// The command line's start-up against Docker's and buildah's, same run, through farm-bench
// (whole process, A/B paired, medians): `layercake --help` vs `docker --help` (docker's client
// answers it without a daemon), `layercake images` and `ps -a` vs buildah's, and a cached
// rebuild of a small Dockerfile through each CLI. Target (issue 14): ≤ 100 ms median for
// images, ps and --help; a cached rebuild ≤ 0.5× buildah's.
//
// Run: npx tsx bench/cli.ts [runs]     (as root, after setup put `layercake` on the PATH)
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

// A cached rebuild: the same base image for both (ours, saved and pulled into a private buildah
// storage), both built once first, then every timed run is all cache hits.
const dir = mkdtempSync(join(tmpdir(), 'layercake-bench-cli-'));
const context = join(dir, 'context');
const buildahArgs = ['--root', join(dir, 'buildah/root'), '--runroot', join(dir, 'buildah/run'), '--storage-driver', 'overlay'];
const quiet: ExecFileSyncOptions = { stdio: ['ignore', 'ignore', 'inherit'] };
try {
  mkdirSync(context);
  writeFileSync(join(context, 'Dockerfile'), 'FROM busybox\nRUN echo one > /one\nRUN echo two > /two\nCOPY hello.txt /hello.txt\n');
  writeFileSync(join(context, 'hello.txt'), 'hello\n');
  execFileSync(layercake, ['build', '-q', '-t', 'bench-cli', context], quiet);
  execFileSync(layercake, ['save', '-o', join(dir, 'busybox.tar'), 'busybox'], quiet);
  execFileSync('buildah', [...buildahArgs, 'pull', '-q', `docker-archive:${join(dir, 'busybox.tar')}`], quiet);
  const bud = ['buildah', ...buildahArgs, 'bud', '--layers', '--isolation', 'chroot', '--pull=never', '-q', '-t', 'bench-cli', context];
  execFileSync(bud[0]!, bud.slice(1), quiet);
  pair('cached rebuild: layercake build (A) vs buildah bud --layers (B)', [layercake, 'build', '-q', '-t', 'bench-cli', context], bud.join(' '), 900);
} finally {
  try {
    execFileSync(layercake, ['rmi', 'bench-cli'], { stdio: 'ignore' });
  } catch {
    // never built: the error above says why
  }
  rmSync(dir, { recursive: true, force: true });
}
