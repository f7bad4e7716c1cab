// The `layercake` binary as a subprocess, the way a learner's shell runs it: what it printed
// and how it exited.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../config.js';

export const BIN = join(REPO_ROOT, 'worker/cli.cjs');

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** What stdin reads (then end-of-file). */
  input?: string;
  /** Run this instead of `node worker/cli.cjs`, with `args` after it (e.g. under `script`). */
  command?: string[];
}

export function spawnCli(args: readonly string[], options: SpawnOptions = {}): Promise<Result> {
  const [file, ...pre] = options.command ?? [process.execPath, BIN];
  return new Promise((resolve, reject) => {
    const child = spawn(file!, [...pre, ...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}
