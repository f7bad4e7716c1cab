// A build step's container with the way out: created (namespaces made, the command held), its
// door opened (forwarder.ts), then started. Created-then-started because the command must find
// the proxy listening from its first instruction. Looks like runtime.run() to the caller:
// stdout, stderr, exited.
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import type { ContainerProcess, ContainerRuntime, ExitInfo } from '../runtime/container-runtime.js';
import { openDoor } from './forwarder.js';

export function runWithEgress(runtime: ContainerRuntime, o: { id: string; bundleDir: string; stepDir: string; socketPath: string }): ContainerProcess {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const exited = (async (): Promise<ExitInfo> => {
    try {
      await runtime.create({ id: o.id, bundleDir: o.bundleDir, outputFile: join(o.stepDir, 'output.log') });
      const state = await runtime.state(o.id);
      if (!state?.pid) throw new Error('the created container has no process');
      // In the step's cgroups: the delete below (or the step's end) kills it with the step.
      await openDoor(state.pid, o.socketPath);
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
