// A build step's container with the way out: created (namespaces made, the command held), a
// forwarder entered into its network namespace, then started. Created-then-started because the
// command must find the proxy listening from its first instruction. Looks like runtime.run()
// to the caller: stdout, stderr, exited.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import type { ContainerProcess, ContainerRuntime, ExitInfo } from '../runtime/container-runtime.js';

const FORWARDER = new URL('./forwarder.mjs', import.meta.url).pathname;

/** The proxy's address inside every container (its loopback). */
export const PROXY_PORT = 3128;

export function proxyEnv(port = PROXY_PORT): string[] {
  const url = `http://127.0.0.1:${port}`;
  return [`http_proxy=${url}`, `https_proxy=${url}`, `HTTP_PROXY=${url}`, `HTTPS_PROXY=${url}`, 'no_proxy=localhost,127.0.0.1'];
}

async function startForwarder(pid: number, socketPath: string): Promise<ChildProcess> {
  const child = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, '--', process.execPath, FORWARDER, String(PROXY_PORT), socketPath], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let said = '';
  child.stderr!.on('data', (b: Buffer) => (said += b.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`the egress forwarder exited (${code}): ${said.trim()}`)));
    child.once('error', reject);
  });
  await ready;
  return child;
}

export function runWithEgress(runtime: ContainerRuntime, o: { id: string; bundleDir: string; stepDir: string; socketPath: string }): ContainerProcess {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const exited = (async (): Promise<ExitInfo> => {
    let forwarder: ChildProcess | null = null;
    try {
      await runtime.create({ id: o.id, bundleDir: o.bundleDir, outputFile: join(o.stepDir, 'output.log') });
      const state = await runtime.state(o.id);
      if (!state?.pid) throw new Error('the created container has no process');
      forwarder = await startForwarder(state.pid, o.socketPath);
      const attachment = await runtime.attach(o.id);
      attachment.on('output', (stream, data) => (stream === 'stdout' ? stdout : stderr).write(data));
      attachment.closeInput();
      const closed = new Promise<void>((resolve) => attachment.on('close', () => resolve()));
      await runtime.start(o.id);
      await closed;
      const end = await runtime.state(o.id);
      if (end?.exitCode === undefined) throw new Error('the container ended without an exit status');
      return {
        exitCode: end.exitCode,
        ...(end.signal ? { signal: end.signal } : {}),
        oomKilled: end.oomKilled ?? false,
        timedOut: end.timedOut ?? false,
      };
    } finally {
      forwarder?.stdin?.end();
      forwarder?.kill('SIGKILL');
      stdout.end();
      stderr.end();
      await runtime.delete(o.id, true).catch(() => undefined);
    }
  })();
  return {
    pid: 0,
    stdin: new Writable({ write: (_c, _e, cb) => cb() }),
    stdout,
    stderr,
    exited,
    resize: () => undefined,
    signal: (sig) => void runtime.kill(o.id, sig).catch(() => undefined),
  };
}
