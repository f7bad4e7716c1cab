// A private dockerd for tests that compare with real Docker: Debian's docker.io on a socket and
// data root of its own (no bridge, no iptables: every container runs --network none), started
// and stopped by the test, so it never touches a Docker the machine may already run.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

const DOCKERD = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].find((path) => existsSync(path));
export const DOCKERD_MISSING = DOCKERD === undefined || !existsSync('/usr/bin/docker');

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface PrivateDocker {
  /** `docker ARGS` against this daemon; the exit code, never a throw. */
  run(args: string[], options?: { input?: string }): Promise<DockerResult>;
  /** `docker ARGS`, stdout, throwing on a non-zero exit. */
  ok(args: string[]): Promise<string>;
  version: string;
  stop(): Promise<void>;
}

export async function startPrivateDocker(): Promise<PrivateDocker> {
  const root = await mkdtemp(join(tmpdir(), 'lc-dockerd-'));
  const socket = join(root, 'docker.sock');
  const dockerd: ChildProcess = spawn(
    DOCKERD!,
    ['--data-root', join(root, 'data'), '--exec-root', join(root, 'exec'), '-H', `unix://${socket}`, '--iptables=false', '--bridge=none', '--pidfile', join(root, 'pid')],
    { stdio: 'ignore' },
  );
  const run = async (args: string[], options: { input?: string } = {}): Promise<DockerResult> =>
    new Promise((resolve) => {
      const child = execFile('/usr/bin/docker', ['-H', `unix://${socket}`, ...args], { maxBuffer: 64 << 20, timeout: 120_000, env: { ...process.env, DOCKER_BUILDKIT: '1' } }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
        resolve({ code, stdout, stderr });
      });
      if (options.input !== undefined) child.stdin?.end(options.input);
    });
  const ok = async (args: string[]): Promise<string> => {
    const r = await run(args);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  const stop = async (): Promise<void> => {
    if (dockerd.exitCode === null) {
      const exited = new Promise((r) => dockerd.once('exit', r));
      dockerd.kill('SIGTERM');
      const timer = setTimeout(() => dockerd.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(root, { recursive: true, force: true }).catch(() => undefined);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const probe = existsSync(socket) ? await run(['version', '--format', '{{.Server.Version}}']) : null;
    if (probe?.code === 0) return { run, ok, stop, version: probe.stdout.trim() };
    if (Date.now() > deadline || dockerd.exitCode !== null) {
      await stop();
      throw new Error('dockerd did not come up within 30 s');
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export { execFileP };
