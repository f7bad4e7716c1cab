// The command line's start-up against Docker's and buildah's, same run, timed by hyperfine (whole
// process, no shell, warm-up runs first): `layercake --help` vs `docker --help` (docker's client
// answers it without a daemon), `layercake images` and `ps -a` vs buildah's, and a cached rebuild
// of a small Dockerfile through each CLI. Target (issue 14): ≤ 100 ms median for images, ps and
// --help; a cached rebuild ≤ 0.5× buildah's. Also node's own start, the floor under any of ours.
//
// layercake runs as a shell runs it: this checkout's bin (worker/cli.cjs, what setup links onto
// the PATH) through its #! line, with the environment the bench was started in.
//
// Run: npx tsx bench/cli.ts [runs]     (as root, after setup; the machine quiet: see `uptime`)
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../worker/src/config.js';

const runs = Number(process.argv[2] ?? 20);
const layercake = join(REPO_ROOT, 'worker/cli.cjs');
const dir = mkdtempSync(join(tmpdir(), 'layercake-bench-cli-'));

interface Timing {
  command: string;
  times: number[];
  exit_codes: number[];
  /** Means over the runs, in seconds: CPU time moves less with the machine's load than wall time. */
  user: number;
  system: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;
const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** Times `a` (ours) and `b` (the peer) in one hyperfine run; prints medians, spread and a/b. */
function pair(title: string, a: string, b: string): void {
  const out = join(dir, 'hyperfine.json');
  execFileSync('hyperfine', ['-N', '--warmup', '2', '--runs', String(runs), '--style', 'none', '--export-json', out, a, b], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const [ours, peer] = (JSON.parse(readFileSync(out, 'utf8')) as { results: Timing[] }).results;
  const line = (r: Timing) => {
    const failed = r.exit_codes.filter((c) => c !== 0).length;
    return `median ${ms(median(r.times))}  (min ${ms(Math.min(...r.times))}, max ${ms(Math.max(...r.times))}, ${r.times.length} runs${failed ? `, ${failed} failed` : ''}; CPU mean ${ms(r.user + r.system)})`;
  };
  process.stdout.write(`\n## ${title}\n  layercake  ${line(ours!)}\n  peer       ${line(peer!)}\n`);
  process.stdout.write(`  ratio layercake/peer (medians): ${(median(ours!.times) / median(peer!.times)).toFixed(2)}; CPU ${((ours!.user + ours!.system) / (peer!.user + peer!.system)).toFixed(2)}\n`);
}

const quiet: ExecFileSyncOptions = { stdio: ['ignore', 'ignore', 'inherit'] };
const buildahArgs = ['--root', join(dir, 'buildah/root'), '--runroot', join(dir, 'buildah/run'), '--storage-driver', 'overlay'];
const context = join(dir, 'context');
try {
  process.stdout.write(`layercake start-up, ${runs} runs each; load average now: ${load()}\n`);
  pair('--help: layercake vs docker', `${layercake} --help`, 'docker --help');
  pair('images: layercake vs buildah', `${layercake} images`, 'buildah images');
  pair('ps -a: layercake vs buildah containers', `${layercake} ps -a`, 'buildah containers');
  // As the bin starts node: without NODE_EXTRA_CA_CERTS (worker/cli.cjs says why).
  pair('the floor: node starting with nothing to do, vs docker --help', `/usr/bin/env -u NODE_EXTRA_CA_CERTS ${process.execPath} -e 0`, 'docker --help');

  // A cached rebuild: the same base image for both (ours, saved and pulled into a private buildah
  // storage), both built once first, then every timed run is all cache hits.
  mkdirSync(context);
  writeFileSync(join(context, 'Dockerfile'), 'FROM busybox\nRUN echo one > /one\nRUN echo two > /two\nCOPY hello.txt /hello.txt\n');
  writeFileSync(join(context, 'hello.txt'), 'hello\n');
  execFileSync(layercake, ['build', '-q', '-t', 'bench-cli', context], quiet);
  execFileSync(layercake, ['save', '-o', join(dir, 'busybox.tar'), 'busybox'], quiet);
  execFileSync('buildah', [...buildahArgs, 'pull', '-q', `docker-archive:${join(dir, 'busybox.tar')}`], quiet);
  const bud = ['buildah', ...buildahArgs, 'bud', '--layers', '--isolation', 'chroot', '--pull=never', '-q', '-t', 'bench-cli', context];
  execFileSync(bud[0]!, bud.slice(1), quiet);
  pair('cached rebuild: layercake build vs buildah bud --layers', `${layercake} build -q -t bench-cli ${context}`, bud.join(' '));
  // The machine is shared: a load that rose during the run explains a wide spread.
  process.stdout.write(`\nload average at the end: ${load()}\n`);
} finally {
  try {
    execFileSync(layercake, ['rmi', 'bench-cli'], { stdio: 'ignore' });
  } catch {
    // never built: the error above says why
  }
  rmSync(dir, { recursive: true, force: true });
}
