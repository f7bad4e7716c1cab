// A container's terminal in Redis, between the worker host that owns the container (its relay,
// worker/src/terminals/) and any gateway process: the Redis names, the entry formats, and the
// gateway's half (ask a host to relay, read output after an offset, send input, resize and acks).
//
// Output stream `terminal:<id>:out`: entry id `0-<E>` where E is the byte offset where the entry's
// bytes end (field `d`), so ids are sequence numbers Redis itself keeps increasing, "after offset
// N" is the exclusive range from `0-N`, and trimming with MINID keeps a scrollback bounded in
// bytes. The last entry after the container exits is `0-<E+1>` with field `x` (the exit code).
// Input stream `terminal:<id>:in`: input bytes (`i`), resizes (`r`: "ROWS COLS"), and each
// viewer's acks (`a` viewer, `o` offset, also sent as a heartbeat) and leave (`l`); the relay
// reads it in a consumer group, so input written while its worker restarts is not lost.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { errorPayload, LearnerError, type ErrorPayload } from '../protocol/errors.js';

/** Bytes of output kept for a reload (the scrollback a fresh screen is painted from). */
export const TERMINAL_SCROLLBACK_BYTES = 2 * 1024 * 1024;
/** A viewer acks at least this often while attached; the relay forgets one it has not heard from for VIEWER_STALE_MS. */
export const VIEWER_HEARTBEAT_MS = 5_000;
export const VIEWER_STALE_MS = 3 * VIEWER_HEARTBEAT_MS;
/** How long an exited (or no longer relayed) terminal's output stays readable. */
export const TERMINAL_KEPT_MS = 3600 * 1000;
/**
 * Input stream entries kept at most (the relay trims what it has read; this bounds what waits
 * while no relay reads, e.g. during a worker restart: at most this many input messages).
 */
const INPUT_STREAM_MAXLEN = 2_000;

export const terminalKeys = {
  /** Hash: session, host, state (`live`), of a terminal being relayed. */
  meta: (prefix: string, containerId: string) => `${prefix}:terminal:${containerId}`,
  output: (prefix: string, containerId: string) => `${prefix}:terminal:${containerId}:out`,
  input: (prefix: string, containerId: string) => `${prefix}:terminal:${containerId}:in`,
  /** Stream of "relay this container" requests a host's relay service reads. */
  requests: (prefix: string, hostId: string) => `${prefix}:host:${hostId}:terminal-requests`,
  /** Hash: containers this host relays → session; a restarted worker resumes them. */
  relays: (prefix: string, hostId: string) => `${prefix}:host:${hostId}:terminals`,
  /** List the answer to one request is pushed to. */
  reply: (prefix: string, requestId: string) => `${prefix}:terminal-reply:${requestId}`,
};

/** The consumer group the relay reads its input stream in. */
export const RELAY_GROUP = 'relay';

export const outputId = (endOffset: number) => `0-${endOffset}`;
export const offsetOfId = (id: string | Buffer) => {
  const s = id.toString();
  return Number(s.slice(s.indexOf('-') + 1));
};

export type OutputRecord =
  | { kind: 'data'; offset: number; data: Buffer }
  | { kind: 'exit'; offset: number; exitCode: number };

type BufferEntry = [id: Buffer, fields: Buffer[]];

export function decodeOutput(entries: BufferEntry[]): OutputRecord[] {
  return entries.map(([id, fields]) => {
    const end = offsetOfId(id);
    if (fields[0]?.toString() === 'x') return { kind: 'exit', offset: end - 1, exitCode: Number(fields[1]!.toString()) };
    return { kind: 'data', offset: end, data: fields[1]! };
  });
}

export type InputRecord =
  | { kind: 'input'; data: Buffer }
  | { kind: 'resize'; rows: number; cols: number }
  | { kind: 'ack'; viewer: string; offset: number }
  | { kind: 'leave'; viewer: string };

export function decodeInput(fields: Buffer[]): InputRecord | null {
  const tag = fields[0]?.toString();
  if (tag === 'i' && fields[1]) return { kind: 'input', data: fields[1] };
  if (tag === 'r' && fields[1]) {
    const [rows, cols] = fields[1].toString().split(' ').map(Number);
    return Number.isInteger(rows) && Number.isInteger(cols) ? { kind: 'resize', rows: rows!, cols: cols! } : null;
  }
  if (tag === 'a' && fields[1] && fields[3]) return { kind: 'ack', viewer: fields[1].toString(), offset: Number(fields[3].toString()) };
  if (tag === 'l' && fields[1]) return { kind: 'leave', viewer: fields[1].toString() };
  return null;
}

// ---- requests: a gateway asks the session's host to relay a container ----------------------------

export interface TerminalRequest {
  requestId: string;
  sessionId: string;
  /** Id, short id or name, resolved by the engine within the session. */
  container: string;
}

export type TerminalRequestReply = { ok: true; containerId: string } | { ok: false; error: ErrorPayload };

export class TerminalRequestTimeout extends Error {
  constructor(hostId: string) {
    super(`host ${hostId} did not answer a terminal request`);
  }
}

/**
 * Asks `hostId` to relay `container` for `sessionId` (the engine checks the container is the
 * session's) and waits for the answer. `blocking` is a connection this call may block on.
 */
export async function requestTerminal(
  redis: Redis,
  blocking: Redis,
  prefix: string,
  hostId: string,
  request: Omit<TerminalRequest, 'requestId'>,
  timeoutMs = 10_000,
): Promise<TerminalRequestReply> {
  const requestId = randomBytes(12).toString('hex');
  const body: TerminalRequest = { requestId, ...request };
  await redis.xadd(terminalKeys.requests(prefix, hostId), 'MAXLEN', '~', 1000, '*', 'request', JSON.stringify(body));
  const reply = await blocking.blpop(terminalKeys.reply(prefix, requestId), timeoutMs / 1000);
  if (!reply) throw new TerminalRequestTimeout(hostId);
  const parsed = JSON.parse(reply[1]) as { ok: boolean; containerId?: unknown; error?: unknown };
  if (parsed.ok && typeof parsed.containerId === 'string') return { ok: true, containerId: parsed.containerId };
  return { ok: false, error: errorPayload.parse(parsed.error) };
}

export async function replyToRequest(redis: Redis, prefix: string, requestId: string, reply: TerminalRequestReply): Promise<void> {
  const key = terminalKeys.reply(prefix, requestId);
  await redis.multi().lpush(key, JSON.stringify(reply)).pexpire(key, 30_000).exec();
}

/** The session a terminal is relayed for, or null when no relay runs for it. */
export async function terminalSession(redis: Redis, prefix: string, containerId: string): Promise<string | null> {
  return redis.hget(terminalKeys.meta(prefix, containerId), 'session');
}

// ---- the gateway's reads and writes ------------------------------------------------------------

export interface OutputRead {
  records: OutputRecord[];
  /** The offset the records start at (after `after`, or where the kept scrollback begins). */
  from: number;
}

/**
 * Output after byte offset `after` (undefined: from the start of the kept scrollback), at most
 * `count` entries. With `blockMs`, waits that long for more when nothing is there (a blocking
 * read holds its connection: give it one of its own).
 */
export async function readTerminalOutput(
  redis: Redis,
  prefix: string,
  containerId: string,
  after: number | undefined,
  options: { count?: number; blockMs?: number } = {},
): Promise<OutputRead> {
  const key = terminalKeys.output(prefix, containerId);
  const count = options.count ?? 64;
  let entries: BufferEntry[];
  if (options.blockMs === undefined) {
    entries = (await redis.xrangeBuffer(key, after === undefined ? '-' : `(${outputId(after)}`, '+', 'COUNT', count)) as BufferEntry[];
  } else {
    const reply = (await redis.xreadBuffer('COUNT', count, 'BLOCK', options.blockMs, 'STREAMS', key, outputId(after ?? 0))) as
      | [Buffer, BufferEntry[]][]
      | null;
    entries = reply?.[0]?.[1] ?? [];
  }
  const records = decodeOutput(entries);
  const first = records[0];
  const from = !first ? (after ?? 0) : first.kind === 'data' ? first.offset - first.data.length : first.offset;
  return { records, from };
}

/** Appends to the terminal's input stream (input bytes, a resize, a viewer's ack or leave). */
export class TerminalInputWriter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  // The expiry is for a stream nobody reads any more (its relay ended as this was sent); a live
  // relay deletes it when it ends, and heartbeats keep renewing it while viewers are there.
  private add(containerId: string, ...fields: (string | Buffer)[]): Promise<unknown> {
    const key = terminalKeys.input(this.prefix, containerId);
    return this.redis.multi().xadd(key, 'MAXLEN', '~', INPUT_STREAM_MAXLEN, '*', ...fields).pexpire(key, TERMINAL_KEPT_MS).exec();
  }

  /**
   * A keystroke is one command, not a transaction: NOMKSTREAM writes only to a stream the relay
   * made (so none is left behind after it ended, which is what the expiry is for), and the
   * viewers' heartbeats renew the expiry.
   */
  input(containerId: string, data: Uint8Array): Promise<unknown> {
    const key = terminalKeys.input(this.prefix, containerId);
    return this.redis.xadd(key, 'NOMKSTREAM', 'MAXLEN', '~', INPUT_STREAM_MAXLEN, '*', 'i', Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }

  resize(containerId: string, rows: number, cols: number): Promise<unknown> {
    return this.add(containerId, 'r', `${rows} ${cols}`);
  }

  ack(containerId: string, viewer: string, offset: number): Promise<unknown> {
    return this.add(containerId, 'a', viewer, 'o', String(offset));
  }

  leave(containerId: string, viewer: string): Promise<unknown> {
    return this.add(containerId, 'l', viewer);
  }
}

// ---- what one attachment may type ---------------------------------------------------------------

/** Typing and pasting: 1 MiB a second, 4 MiB at once (what waits for a restarting worker is bounded). */
const INPUT_BYTES_PER_SECOND = 1024 * 1024;
const INPUT_BURST_BYTES = 4 * 1024 * 1024;

/** One attachment's input allowance (a token bucket), the same through the gateway or direct. */
export class InputBudget {
  private bytes = INPUT_BURST_BYTES;
  private at = Date.now();

  /** Takes `bytes`, or throws terminal.inputTooFast (the bytes are then not sent). */
  take(bytes: number): void {
    const now = Date.now();
    this.bytes = Math.min(INPUT_BURST_BYTES, this.bytes + ((now - this.at) / 1000) * INPUT_BYTES_PER_SECOND);
    this.at = now;
    if (bytes > this.bytes) throw new LearnerError('terminal.inputTooFast', { limit: '1 MiB/s' });
    this.bytes -= bytes;
  }
}
