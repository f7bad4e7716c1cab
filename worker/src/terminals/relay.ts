// One container's terminal relayed between its launcher's attach socket and Redis streams (see
// queue-client/terminal-streams.ts for the streams). Output is appended in order with byte
// offsets as entry ids; input, resizes and viewers' acks come from the input stream.
//
// Flow control: the relay never drops a byte. When the slowest live viewer has acked more than
// `highBytes` less than the relay has read, it stops reading the attach socket, so the launcher
// holds the container back (its writes block); below `lowBytes` it reads again. A viewer that
// has not acked or sent a heartbeat for VIEWER_STALE_MS is no longer counted. With no viewers it
// reads freely: the scrollback keeps the newest bytes, like a terminal nobody looks at.
//
// Direct viewers (a browser on this host's endpoint, endpoint.ts) skip Redis on the hot path:
// their input goes straight to the attachment, and each output batch reaches them before it is
// stored (the stream stays the record for reloads and other viewers). They are counted for flow
// control like any viewer, and are live for as long as their socket is.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  decodeInput,
  decodeOutput,
  offsetOfId,
  outputId,
  RELAY_GROUP,
  TERMINAL_KEPT_MS,
  TERMINAL_SCROLLBACK_BYTES,
  terminalKeys,
  VIEWER_HEARTBEAT_MS,
  VIEWER_STALE_MS,
} from '../../../queue-client/terminal-streams.js';
import type { ContainerAttachment, Containers } from '../containers/index.js';

/** Bytes per output entry at most: a reload repaints in pieces this size. */
const ENTRY_MAX_BYTES = 64 * 1024;
/**
 * Input waiting for the launcher beyond this is dropped, as a terminal's own input buffer drops
 * what the program does not read: the launcher stops taking input the container does not read,
 * and holding it here would grow without bound (and the acks behind it must still be read).
 */
const INPUT_PENDING_MAX_BYTES = 256 * 1024;
/**
 * Read input is trimmed from its stream once this much was read since the last trim: a paste
 * does not stay in Redis, and typing costs no extra command per keystroke.
 */
const TRIM_AFTER_BYTES = 256 * 1024;
const TRIM_AFTER_ENTRIES = 256;

export interface RelayLimits {
  /** Stop reading when the slowest live viewer is this many bytes behind… */
  highBytes: number;
  /** …and read again once it is no more than this. */
  lowBytes: number;
  /** Stop relaying after this long without a live viewer (the container keeps running). */
  idleMs: number;
}

export const defaultRelayLimits: RelayLimits = Object.freeze({ highBytes: 512 * 1024, lowBytes: 128 * 1024, idleMs: 15 * 60_000 });

export interface RelayOptions {
  containers: Containers;
  containerId: string;
  hostId: string;
  prefix: string;
  /** Shared, non-blocking client; the relay duplicates it for its blocking input read. */
  redis: Redis;
  log: Logger;
  limits?: Partial<RelayLimits>;
  /** Picked up after a worker restart: hold output until viewers had time to say where they are. */
  resumed?: boolean;
  /** An attachment made before the container started (so its first output is not missed). */
  attachment?: ContainerAttachment;
}

export type RelayEnd = { reason: 'exited'; exitCode: number } | { reason: 'idle' } | { reason: 'detached' };

interface Viewer {
  acked: number;
  seenAt: number;
}

/** Where a direct viewer's output goes (its socket, in endpoint.ts). */
export interface DirectSink {
  /** Bytes ending at byte offset `offset`, in order, each once. */
  output(data: Buffer, offset: number): void;
  exit(exitCode: number, offset: number): void;
  /** The relay stopped without an exit (idle, worker shutdown): attach again to go on. */
  closed(): void;
}

interface DirectViewer {
  sink: DirectSink;
  /** Live batches that came while the stored backlog was being sent; null once live. */
  queued: [Buffer, number][] | null;
  exit: number | null;
  /** It left (or was closed): nothing more is sent to it. */
  gone: boolean;
}

/**
 * While every viewer is a direct one, output is stored this long after it was sent (batched):
 * the stream is then only the record for a later reload, and Redis's work stays out of the way
 * of the echo on a busy host. With a viewer reading the stream, each batch is stored at once.
 */
const DIRECT_STORE_DELAY_MS = 25;

/** Entries per read of a direct viewer's backlog (at most 64 KiB each). */
const BACKLOG_READ_ENTRIES = 32;

export class Relay {
  readonly containerId: string;
  /** Resolves when the relay has ended (and written the exit record, if the container exited). */
  readonly ended: Promise<RelayEnd>;
  private endWith!: (end: RelayEnd) => void;
  private readonly limits: RelayLimits;
  private readonly keys: { meta: string; output: string; input: string; relays: string };
  private readonly blocking: Redis;
  private attachment: ContainerAttachment | null = null;
  private readonly viewers = new Map<string, Viewer>();
  private readonly direct = new Map<string, DirectViewer>();
  private lastViewerAt = Date.now();
  private holdUntil = 0;
  private paused = false;
  private pauses = 0;
  private droppedInputBytes = 0;
  private untrimmed = { bytes: 0, entries: 0 };
  private stopping: RelayEnd | null = null;
  private exitCode: number | null = null;

  /** Offset of the last byte stored / read from the socket. */
  private stored = 0;
  private read = 0;
  /** Offset of the last byte handed to direct viewers (a batch ahead of `stored`). */
  private live = 0;
  private pending: Buffer[] = [];
  private flushScheduled = false;
  /** Batches sent to direct viewers and not yet stored (see DIRECT_STORE_DELAY_MS). */
  private unstored: Buffer[] = [];
  private storeTimer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly options: RelayOptions) {
    this.containerId = options.containerId;
    this.limits = { ...defaultRelayLimits, ...options.limits };
    const { prefix, containerId, hostId } = options;
    this.keys = {
      meta: terminalKeys.meta(prefix, containerId),
      output: terminalKeys.output(prefix, containerId),
      input: terminalKeys.input(prefix, containerId),
      relays: terminalKeys.relays(prefix, hostId),
    };
    this.blocking = options.redis.duplicate({ connectionName: `layercake-terminal-${containerId.slice(0, 12)}` });
    this.ended = new Promise((resolve) => (this.endWith = resolve));
  }

  /**
   * Attaches and starts relaying. Throws what Containers.attach throws (a container that is not
   * running); the caller decides what the learner hears.
   */
  async start(): Promise<void> {
    const { redis, containers, containerId, hostId } = this.options;
    const last = (await redis.xrevrangeBuffer(this.keys.output, '+', '-', 'COUNT', 1)) as [Buffer, Buffer[]][];
    // After an exit record (a container started again) the offsets go on past its id.
    this.stored = this.read = this.live = last[0] ? offsetOfId(last[0][0]) : 0;
    await this.createGroup();
    let attachment: ContainerAttachment;
    try {
      attachment = this.options.attachment ?? (await containers.attach(containerId));
    } catch (err) {
      if (!this.options.resumed) throw err;
      // It exited while no worker relayed it: its viewers still get the exit.
      const exitCode = (await containers.inspect(containerId).catch(() => null))?.exitCode ?? -1;
      await this.stop({ reason: 'exited', exitCode });
      return;
    }
    this.attachment = attachment;
    await redis
      .multi()
      .hset(this.keys.meta, 'session', containers.session, 'host', hostId, 'state', 'live')
      .persist(this.keys.meta)
      .persist(this.keys.output)
      .hset(this.keys.relays, containerId, containers.session)
      .exec();
    if (this.options.resumed) this.holdUntil = Date.now() + VIEWER_HEARTBEAT_MS + 1000;
    attachment.on('output', (_stream, data) => this.onOutput(data));
    attachment.on('exit', (code) => (this.exitCode = code));
    attachment.on('close', () => void this.onClose());
    this.updateFlow();
    void this.readInput();
  }

  /** Input written before the group existed was written to no relay: start after it. */
  private async createGroup(): Promise<void> {
    await this.options.redis.xgroup('CREATE', this.keys.input, RELAY_GROUP, '$', 'MKSTREAM').catch((err: Error) => {
      if (!err.message.includes('BUSYGROUP')) throw err;
    });
  }

  // ---- output: socket → stream ----------------------------------------------------------------

  private onOutput(data: Buffer): void {
    if (this.stopping && this.stopping.reason !== 'exited') return;
    this.pending.push(data);
    this.read += data.length;
    this.updateFlow();
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // One round trip per tick: what arrived together is stored together.
    setImmediate(() => {
      this.flushScheduled = false;
      const batch = Buffer.concat(this.pending);
      this.pending = [];
      if (batch.length === 0) return;
      // Direct viewers first: the keystroke's echo does not wait for Redis.
      this.live += batch.length;
      for (const viewer of this.direct.values()) {
        if (viewer.queued) viewer.queued.push([batch, this.live]);
        else viewer.sink.output(batch, this.live);
      }
      this.unstored.push(batch);
      if (this.direct.size === 0 || this.viewers.size > this.direct.size) this.storeNow();
      else this.storeTimer ??= setTimeout(() => this.storeNow(), DIRECT_STORE_DELAY_MS);
    });
  }

  private async store(bytes: Buffer): Promise<void> {
    if (bytes.length === 0) return;
    // An echo fits one entry: one command, no transaction, on the keystroke's way back.
    if (bytes.length <= ENTRY_MAX_BYTES) {
      this.stored += bytes.length;
      const keepFrom = Math.max(0, this.stored - TERMINAL_SCROLLBACK_BYTES);
      await this.options.redis.xadd(this.keys.output, 'MINID', '=', outputId(keepFrom), outputId(this.stored), 'd', bytes);
      return;
    }
    const multi = this.options.redis.multi();
    for (let at = 0; at < bytes.length; at += ENTRY_MAX_BYTES) {
      const chunk = bytes.subarray(at, at + ENTRY_MAX_BYTES);
      this.stored += chunk.length;
      const keepFrom = Math.max(0, this.stored - TERMINAL_SCROLLBACK_BYTES);
      multi.xadd(this.keys.output, 'MINID', '=', outputId(keepFrom), outputId(this.stored), 'd', chunk);
    }
    const results = (await multi.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  }

  /** Stores what was sent and not yet stored, in order after what is being stored. */
  private storeNow(): void {
    if (this.storeTimer) clearTimeout(this.storeTimer);
    this.storeTimer = null;
    if (this.unstored.length === 0) return;
    const bytes = this.unstored.length === 1 ? this.unstored[0]! : Buffer.concat(this.unstored);
    this.unstored = [];
    this.writing = this.writing.then(() => this.store(bytes)).catch((err: unknown) => this.options.log.error({ err, container: this.containerId }, 'terminal output not stored'));
  }

  private async flushed(): Promise<void> {
    while (this.flushScheduled) await new Promise((r) => setImmediate(r));
    this.storeNow();
    await this.writing;
  }

  // ---- input: stream → socket -----------------------------------------------------------------

  private async readInput(): Promise<void> {
    while (!this.stopping) {
      let reply: [Buffer, [Buffer, Buffer[]][]][] | null;
      try {
        // (ioredis has no Buffer flavour of XREADGROUP; input bytes must stay bytes.)
        reply = (await this.blocking.callBuffer(
          'XREADGROUP', 'GROUP', RELAY_GROUP, 'relay', 'COUNT', 256, 'BLOCK', 1000, 'NOACK', 'STREAMS', this.keys.input, '>',
        )) as typeof reply;
      } catch (err) {
        if (this.stopping) return;
        // The input stream expired (nobody wrote for an hour) and took the group with it.
        if (err instanceof Error && err.message.includes('NOGROUP')) {
          await this.createGroup().catch(() => undefined);
          continue;
        }
        this.options.log.warn({ err, container: this.containerId }, 'terminal input read failed; retrying');
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      const entries = reply?.[0]?.[1] ?? [];
      for (const [, fields] of entries) {
        this.onInput(fields);
        this.untrimmed.bytes += fields[1]?.length ?? 0;
      }
      this.untrimmed.entries += entries.length;
      // What was read is done with: keep the stream to what is still unread (a paste is large).
      const last = entries.at(-1)?.[0];
      if (last && (this.untrimmed.bytes >= TRIM_AFTER_BYTES || this.untrimmed.entries >= TRIM_AFTER_ENTRIES)) {
        this.untrimmed = { bytes: 0, entries: 0 };
        void this.options.redis.xtrim(this.keys.input, 'MINID', last.toString()).catch(() => undefined);
      }
      this.updateFlow();
      if (!this.stopping && Date.now() - this.lastViewerAt > this.limits.idleMs) void this.stop({ reason: 'idle' });
    }
  }

  private onInput(fields: Buffer[]): void {
    const record = decodeInput(fields);
    if (!record) return;
    if (record.kind === 'input') this.input(record.data);
    else if (record.kind === 'resize') this.resize(record.rows, record.cols);
    else if (record.kind === 'ack') this.ack(record.viewer, record.offset);
    else this.leave(record.viewer);
  }

  /** Input bytes for the container (from the input stream, or a direct viewer). */
  input(data: Uint8Array): void {
    const attachment = this.attachment;
    if (!attachment || this.stopping) return;
    if (attachment.pendingInputBytes + data.length <= INPUT_PENDING_MAX_BYTES) attachment.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    else {
      if (this.droppedInputBytes === 0) this.options.log.warn({ container: this.containerId }, 'terminal input dropped: the container is not reading it');
      this.droppedInputBytes += data.length;
    }
  }

  resize(rows: number, cols: number): void {
    if (!this.stopping) this.attachment?.resize(rows, cols);
  }

  /** A viewer rendered up to `offset` (or says it is still there). */
  ack(viewer: string, offset: number): void {
    const seen = this.viewers.get(viewer);
    // An ack past what was read is a confused (or lying) viewer: it cannot be ahead of us.
    const acked = Math.min(Math.max(seen?.acked ?? 0, offset), this.read);
    this.viewers.set(viewer, { acked, seenAt: Date.now() });
    this.updateFlow();
  }

  leave(viewer: string): void {
    this.viewers.delete(viewer);
    const direct = this.direct.get(viewer);
    if (direct) direct.gone = true;
    this.direct.delete(viewer);
    this.updateFlow();
  }

  /** The session the engine opened this terminal for. */
  get session(): string {
    return this.options.containers.session;
  }

  // ---- direct viewers ---------------------------------------------------------------------------

  /**
   * Adds a direct viewer that has rendered up to `after` (undefined: a fresh screen). Resolves
   * with where its output starts (the kept scrollback may begin later) once it is counted; then
   * `begin()` sends the stored backlog and goes live, each byte once and in order: live batches
   * that come meanwhile wait behind the backlog, which ends where they begin.
   */
  async watch(viewer: string, after: number | undefined, sink: DirectSink): Promise<{ from: number; begin: () => void }> {
    if (this.stopping || !this.attachment) throw new Error('relay not live');
    const entry: DirectViewer = { sink, queued: [], exit: null, gone: false };
    const liveFrom = this.live;
    this.direct.set(viewer, entry);
    await this.flushed();
    const { redis } = this.options;
    const first = (await redis.xrangeBuffer(this.keys.output, '-', '+', 'COUNT', 1)) as [Buffer, Buffer[]][];
    const kept = first[0] ? decodeOutput(first) : [];
    const keptFrom = kept[0]?.kind === 'data' ? kept[0].offset - kept[0].data.length : liveFrom;
    const from = Math.min(Math.max(after ?? 0, keptFrom), liveFrom);
    // Counted from now: the relay holds the container until this viewer catches up.
    this.ack(viewer, from);
    const begin = () =>
      void this.sendBacklog(entry, from, liveFrom).catch((err: unknown) => {
        this.options.log.warn({ err, container: this.containerId }, 'terminal backlog not sent');
        this.leave(viewer);
        sink.closed();
      });
    return { from, begin };
  }

  private async sendBacklog(entry: DirectViewer, from: number, until: number): Promise<void> {
    let at = from;
    while (at < until && !entry.gone) {
      const entries = (await this.options.redis.xrangeBuffer(this.keys.output, `(${outputId(at)}`, outputId(until), 'COUNT', BACKLOG_READ_ENTRIES)) as [Buffer, Buffer[]][];
      if (entries.length === 0) break;
      for (const record of decodeOutput(entries)) {
        if (record.kind !== 'data') continue;
        entry.sink.output(record.data, record.offset);
        at = record.offset;
      }
    }
    if (entry.gone) return;
    for (const [data, offset] of entry.queued ?? []) entry.sink.output(data, offset);
    entry.queued = null;
    if (entry.exit !== null) entry.sink.exit(entry.exit, this.live);
  }

  // ---- flow control ---------------------------------------------------------------------------

  /** How far the slowest live viewer is behind what was read; 0 with no live viewer. */
  behindBytes(): number {
    const now = Date.now();
    let slowest = this.read;
    for (const [id, v] of this.viewers) {
      // A direct viewer is live while its socket is (it needs no heartbeat).
      if (this.direct.has(id)) v.seenAt = now;
      if (now - v.seenAt > VIEWER_STALE_MS) this.viewers.delete(id);
      else slowest = Math.min(slowest, v.acked);
    }
    if (this.viewers.size > 0) this.lastViewerAt = now;
    return this.read - slowest;
  }

  private updateFlow(): void {
    const attachment = this.attachment;
    if (!attachment) return;
    const behind = this.behindBytes();
    const hold = Date.now() < this.holdUntil;
    if (!this.paused && (hold || behind > this.limits.highBytes)) {
      this.paused = true;
      this.pauses++;
      attachment.pause();
      if (hold) setTimeout(() => this.updateFlow(), this.holdUntil - Date.now() + 10).unref();
    } else if (this.paused && !hold && behind <= this.limits.lowBytes) {
      this.paused = false;
      attachment.resume();
    }
  }

  /** For tests and logs: what the relay is doing. */
  get state(): { read: number; stored: number; paused: boolean; pauses: number; viewers: number; pendingInputBytes: number; droppedInputBytes: number } {
    return {
      read: this.read,
      stored: this.stored,
      paused: this.paused,
      pauses: this.pauses,
      viewers: this.viewers.size,
      pendingInputBytes: this.attachment?.pendingInputBytes ?? 0,
      droppedInputBytes: this.droppedInputBytes,
    };
  }

  // ---- ending ---------------------------------------------------------------------------------

  private async onClose(): Promise<void> {
    if (this.stopping) return;
    const { containers, log } = this.options;
    let exitCode = this.exitCode;
    if (exitCode === null) {
      // The socket closed without an exit status: the launcher went away (or dropped us).
      const info = await containers.inspect(this.containerId).catch(() => null);
      if (info && (info.status === 'running' || info.status === 'paused')) {
        log.warn({ container: this.containerId }, 'terminal attach socket closed while the container runs; attaching again');
        try {
          const again = await containers.attach(this.containerId);
          this.attachment = again;
          this.paused = false;
          again.on('output', (_s, data) => this.onOutput(data));
          again.on('exit', (code) => (this.exitCode = code));
          again.on('close', () => void this.onClose());
          this.updateFlow();
          return;
        } catch {
          // stopped meanwhile: fall through to the exit
        }
      }
      exitCode = (await containers.inspect(this.containerId).catch(() => null))?.exitCode ?? -1;
    }
    await this.stop({ reason: 'exited', exitCode });
  }

  /**
   * Ends the relay. `exited`: the exit record follows the output and the terminal is kept for
   * TERMINAL_KEPT_MS; `idle`: nobody watches, the output is kept as long; `detached`: this
   * process stops (worker shutdown), the relay stays registered for the next worker to resume.
   */
  async stop(end: RelayEnd): Promise<void> {
    if (this.stopping) return;
    this.stopping = end;
    const { redis } = this.options;
    if (end.reason !== 'exited') this.attachment?.detach();
    this.blocking.disconnect();
    try {
      await this.flushed();
      if (end.reason !== 'detached') {
        const multi = redis.multi();
        if (end.reason === 'exited') multi.xadd(this.keys.output, outputId(this.stored + 1), 'x', String(end.exitCode));
        multi
          .hset(this.keys.meta, 'state', end.reason)
          .pexpire(this.keys.meta, TERMINAL_KEPT_MS)
          .pexpire(this.keys.output, TERMINAL_KEPT_MS)
          .del(this.keys.input)
          .hdel(this.keys.relays, this.containerId);
        await multi.exec();
      }
    } catch (err) {
      this.options.log.error({ err, container: this.containerId }, 'terminal relay did not end cleanly');
    }
    for (const viewer of this.direct.values()) {
      // One still sending its backlog gets the exit after it.
      if (end.reason !== 'exited') {
        viewer.gone = true;
        viewer.sink.closed();
      } else if (viewer.queued) viewer.exit = end.exitCode;
      else viewer.sink.exit(end.exitCode, this.live);
    }
    this.direct.clear();
    this.endWith(end);
  }
}
