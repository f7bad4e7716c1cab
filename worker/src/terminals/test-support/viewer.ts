// A viewer of a terminal as a gateway is one: it reads the output stream after an offset with
// blocking reads, acks what it has "rendered" (optionally slowly, to make the relay hold the
// container back), and collects the bytes until the exit record or until stopped.
import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { readTerminalOutput, TerminalInputWriter } from '../../../../queue-client/terminal-streams.js';

export interface ViewerOptions {
  after?: number;
  /** Wait this long after each read before acking it (a slow browser). */
  renderDelayMs?: number;
  /** Entries per read (a slow browser takes little at a time). */
  count?: number;
}

export interface Viewer {
  id: string;
  bytes(): Buffer;
  /** Offset of the last byte received. */
  offset(): number;
  /** Where the first byte received sits in the terminal's output. */
  from(): number | null;
  exit: Promise<number>;
  stop(): Promise<void>;
}

export function watchTerminal(redis: Redis, prefix: string, containerId: string, options: ViewerOptions = {}): Viewer {
  const id = `v${randomBytes(4).toString('hex')}`;
  const blocking = redis.duplicate();
  const writer = new TerminalInputWriter(redis, prefix);
  const chunks: Buffer[] = [];
  let offset = options.after ?? 0;
  let from: number | null = null;
  let stopped = false;
  let exitCode: number | null = null;
  let exited: (code: number) => void = () => undefined;
  const exit = new Promise<number>((resolve) => (exited = resolve));
  let after = options.after;
  const loop = (async () => {
    await writer.ack(containerId, id, offset);
    while (!stopped) {
      const read = await readTerminalOutput(blocking, prefix, containerId, after, { blockMs: 500, count: options.count ?? 64 }).catch(() => null);
      if (!read) break;
      for (const r of read.records) {
        if (r.kind === 'exit') {
          stopped = true;
          exitCode = r.exitCode;
          exited(r.exitCode);
          break;
        }
        if (from === null) from = r.offset - r.data.length;
        chunks.push(r.data);
        offset = after = r.offset;
      }
      if (options.renderDelayMs) await new Promise((res) => setTimeout(res, options.renderDelayMs));
      if (exitCode === null) await writer.ack(containerId, id, offset);
    }
  })();
  return {
    id,
    bytes: () => Buffer.concat(chunks),
    offset: () => offset,
    from: () => from,
    exit,
    async stop() {
      stopped = true;
      await loop;
      // After the exit there is no relay to tell (and a write would make the input stream again).
      if (exitCode === null) await writer.leave(containerId, id).catch(() => undefined);
      blocking.disconnect();
    },
  };
}
