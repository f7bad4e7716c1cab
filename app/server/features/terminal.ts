// Terminals: the gateway's half of a container's terminal (the worker's relay is the other,
// worker/src/terminals/; the Redis streams between them are queue-client/terminal-streams.ts).
//
// terminal:attach asks the session's host to relay the container; the engine resolves the
// container inside the session taken from the cookie, so another session's container is "not
// found" by any id or name, and the gateway checks the relay's owner again before reading. The
// attachment it makes belongs to this socket: input, resize and ack name the attachment, never
// a container, so no message can reach a terminal this socket did not attach to.
//
// Each attachment has its own Redis connection, first for the request's answer, then for the
// blocking "output after offset N" read (one connection per open terminal, at most
// MAX_ATTACHMENTS per socket). Frames go out as binary. The browser's acks are forwarded to the
// relay, which holds the container back for the slowest viewer; they also bound what this
// process has sent ahead of the browser.
//
// terminal:direct is the short way (worker/src/terminals/endpoint.ts): after the same approval
// by the engine and the same owner check, the page gets the session's host's terminal endpoint
// and a token signed for this session, this container, that host and this page's origin, valid
// for TERMINAL_TOKEN_TTL_MS. It then types to and reads from the worker host directly; this
// process holds nothing for it. No endpoint published, or a terminal that already ended: the
// reply says `direct: null` and the page attaches here.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LearnerError, type ErrorPayload } from '../../../protocol/errors.js';
import type { MessageKey } from '../../../protocol/i18n.js';
import {
  terminalAck,
  terminalAttach,
  terminalDetach,
  terminalDirect,
  terminalEvents,
  terminalInput,
  terminalResize,
  type TerminalClosedFrame,
  type TerminalErrorFrame,
  type TerminalExitFrame,
  type TerminalOutputFrame,
} from '../../../protocol/socket/terminal.js';
import {
  InputBudget,
  pinnedHost,
  readTerminalOutput,
  signTerminalToken,
  terminalEndpointOf,
  terminalKeys,
  TERMINAL_TOKEN_TTL_MS,
  requestTerminal,
  TERMINAL_SCROLLBACK_BYTES,
  TerminalInputWriter,
  TerminalRequestTimeout,
  terminalSession,
  VIEWER_HEARTBEAT_MS,
} from '../../../queue-client/index.js';
import type { GatewayContext, GatewayServer, GatewaySocket } from '../context.js';
import { badMessage, errorPayloadOf } from '../replies.js';

export const MAX_ATTACHMENTS = 8;
/** All of a session's tabs together, in this process: each attachment holds a Redis connection. */
export const MAX_SESSION_ATTACHMENTS = 16;
const REQUEST_TIMEOUT_MS = 10_000;
const READ_BLOCK_MS = 10_000;
/** Never more than this sent past the browser's last ack (the relay normally stops far sooner). */
const MAX_UNACKED_BYTES = 2 * TERMINAL_SCROLLBACK_BYTES;

class Attachment {
  acked: number;
  sent: number;
  private closed = false;
  private readonly heartbeat: NodeJS.Timeout;
  private ackWaiter: (() => void) | null = null;
  readonly inputBudget = new InputBudget();

  constructor(
    readonly id: string,
    readonly containerId: string,
    private readonly socket: GatewaySocket,
    private readonly blocking: Redis,
    private readonly writer: TerminalInputWriter,
    private readonly ctx: GatewayContext,
    from: number,
    private readonly onEnd: () => void,
  ) {
    this.acked = this.sent = from;
    // The relay forgets a viewer it has not heard from: say "still here" while attached.
    this.heartbeat = setInterval(() => void this.writer.ack(containerId, id, this.acked).catch(() => undefined), VIEWER_HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Relays the output after `sent` until the exit, a detach, or the socket goes. */
  async pump(): Promise<void> {
    const { ctx, socket } = this;
    try {
      while (!this.closed) {
        while (this.sent - this.acked > MAX_UNACKED_BYTES && !this.closed) await new Promise<void>((r) => (this.ackWaiter = r));
        if (this.closed) break;
        const { records } = await readTerminalOutput(this.blocking, ctx.prefix, this.containerId, this.sent, { blockMs: READ_BLOCK_MS, count: 64 });
        if (this.closed) break;
        // One frame per read: what the relay stored together goes out together.
        const data: Buffer[] = [];
        for (const r of records) {
          if (r.kind !== 'data') continue;
          data.push(r.data);
          this.sent = r.offset;
        }
        if (data.length > 0) {
          socket.emit(terminalEvents.output, { attachmentId: this.id, offset: this.sent, data: data.length === 1 ? data[0]! : Buffer.concat(data) } satisfies TerminalOutputFrame);
        }
        const exit = records.find((r) => r.kind === 'exit');
        if (exit) {
          socket.emit(terminalEvents.exit, { attachmentId: this.id, exitCode: exit.exitCode, offset: exit.offset } satisfies TerminalExitFrame);
          this.close(false);
        }
      }
    } catch (err) {
      if (this.closed) return;
      const error = errorPayloadOf(err, ctx.log, { container: this.containerId, attachment: this.id });
      socket.emit(terminalEvents.closed, { attachmentId: this.id, error } satisfies TerminalClosedFrame);
      this.close(true);
    }
  }

  ack(offset: number): void {
    if (offset <= this.acked) return;
    this.acked = Math.min(offset, this.sent);
    void this.writer.ack(this.containerId, this.id, this.acked).catch(() => undefined);
    this.ackWaiter?.();
    this.ackWaiter = null;
  }

  /** `tellRelay`: the relay should stop counting this viewer (not after the exit: it has ended). */
  close(tellRelay: boolean): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.ackWaiter?.();
    this.blocking.disconnect();
    if (tellRelay) void this.writer.leave(this.containerId, this.id).catch(() => undefined);
    this.onEnd();
  }
}

/** A worker's refusal as the learner's error (its internal id stays in the worker's log). */
function refusal(error: ErrorPayload): Error {
  return error.kind === 'learner' ? new LearnerError(error.key as MessageKey, error.facts) : new Error(`worker error ${error.errorId}`);
}

export function register(io: GatewayServer, ctx: GatewayContext): void {
  const writer = new TerminalInputWriter(ctx.redis, ctx.prefix);
  const open = new Set<Attachment>();
  const perSession = new Map<string, number>();
  const count = (sessionId: string, delta: number) => {
    const n = (perSession.get(sessionId) ?? 0) + delta;
    if (n > 0) perSession.set(sessionId, n);
    else perSession.delete(sessionId);
  };
  ctx.onClose(() => {
    for (const a of open) a.close(true);
  });

  /** The session's host relays `ref` for it (the engine checked), as the full container id. */
  async function approved(sessionId: string, ref: string): Promise<{ hostId: string; containerId: string; blocking: Redis }> {
    const notFound = new LearnerError('container.notFound', { ref });
    const hostId = await pinnedHost(ctx.redis, ctx.prefix, sessionId);
    if (!hostId) throw notFound;
    const blocking = ctx.redis.duplicate({ connectionName: 'layercake-app-terminal' });
    try {
      const reply = await requestTerminal(ctx.redis, blocking, ctx.prefix, hostId, { sessionId, container: ref }, REQUEST_TIMEOUT_MS).catch((err: unknown) => {
        if (err instanceof TerminalRequestTimeout) throw new LearnerError('runs.timeout', { seconds: REQUEST_TIMEOUT_MS / 1000 });
        throw err;
      });
      if (!reply.ok) throw refusal(reply.error);
      const { containerId } = reply;
      // The engine said yes for this session; the relay's record must say the same.
      if ((await terminalSession(ctx.redis, ctx.prefix, containerId)) !== sessionId) throw notFound;
      return { hostId, containerId, blocking };
    } catch (err) {
      blocking.disconnect();
      throw err;
    }
  }

  io.on('connection', (socket) => {
    const attachments = new Map<string, Attachment>();

    ctx.handle(socket, terminalEvents.direct, terminalDirect, async ({ containerId: ref }, sessionId) => {
      const { hostId, containerId, blocking } = await approved(sessionId, ref);
      blocking.disconnect();
      const [endpoint, state] = await Promise.all([
        terminalEndpointOf(ctx.redis, ctx.prefix, hostId),
        ctx.redis.hget(terminalKeys.meta(ctx.prefix, containerId), 'state'),
      ]);
      // An ended terminal (its output and exit kept) is read here, from the stream.
      if (!endpoint || state !== 'live') return { containerId, direct: null };
      const origin = socket.handshake.headers.origin ?? '';
      const token = signTerminalToken(endpoint.key, { s: sessionId, c: containerId, h: hostId, o: origin, e: Date.now() + TERMINAL_TOKEN_TTL_MS });
      return { containerId, direct: { url: endpoint.url, port: endpoint.port, token } };
    }, { rate: 'operations' });

    ctx.handle(socket, terminalEvents.attach, terminalAttach, async ({ containerId: ref, after }, sessionId) => {
      if (attachments.size >= MAX_ATTACHMENTS) throw new LearnerError('terminal.tooMany', { limit: MAX_ATTACHMENTS });
      if ((perSession.get(sessionId) ?? 0) >= MAX_SESSION_ATTACHMENTS) throw new LearnerError('terminal.tooMany', { limit: MAX_SESSION_ATTACHMENTS });
      const { containerId, blocking } = await approved(sessionId, ref);
      try {
        const first = (await readTerminalOutput(ctx.redis, ctx.prefix, containerId, undefined, { count: 1 })).from;
        const from = Math.max(after ?? 0, first);
        const attachmentId = randomBytes(9).toString('base64url');
        // Counted by the relay from now: it holds the container until this viewer catches up.
        await writer.ack(containerId, attachmentId, from);
        const attachment = new Attachment(attachmentId, containerId, socket, blocking, writer, ctx, from, () => {
          attachments.delete(attachmentId);
          open.delete(attachment);
          count(sessionId, -1);
        });
        attachments.set(attachmentId, attachment);
        open.add(attachment);
        count(sessionId, +1);
        // After the reply is on its way: the browser knows the attachment before its first frame.
        setImmediate(() => void attachment.pump());
        return { attachmentId, containerId, from };
      } catch (err) {
        blocking.disconnect();
        throw err;
      }
    }, { rate: 'operations' });

    ctx.handle(socket, terminalEvents.detach, terminalDetach, async ({ attachmentId }) => {
      attachments.get(attachmentId)?.close(true);
      return {};
    });

    /** Input, resize and ack carry no reply (keystrokes must not wait for one): refusals come as terminal:error. */
    function onMessage<T extends { attachmentId: string }>(
      event: string,
      schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: import('zod').ZodError } },
      fn: (a: Attachment, m: T) => Promise<unknown> | void,
    ): void {
      socket.on(event, (message: unknown) => {
        const parsed = schema.safeParse(message);
        const refuse = (err: unknown, attachmentId?: string) =>
          socket.emit(terminalEvents.error, { ...(attachmentId ? { attachmentId } : {}), error: errorPayloadOf(err, ctx.log, { event }) } satisfies TerminalErrorFrame);
        if (!parsed.success) return refuse(badMessage(parsed.error));
        const attachment = attachments.get(parsed.data.attachmentId);
        if (!attachment) return refuse(new LearnerError('terminal.notAttached'), parsed.data.attachmentId);
        let done: Promise<unknown> | void;
        try {
          done = fn(attachment, parsed.data);
        } catch (err) {
          return refuse(err, attachment.id);
        }
        void Promise.resolve(done).catch((err: unknown) => refuse(err, attachment.id));
      });
    }
    onMessage(terminalEvents.input, terminalInput, (a, m) => {
      a.inputBudget.take(m.data.byteLength);
      return writer.input(a.containerId, m.data);
    });
    onMessage(terminalEvents.resize, terminalResize, (a, m) => writer.resize(a.containerId, m.rows, m.cols));
    onMessage(terminalEvents.ack, terminalAck, (a, m) => a.ack(m.offset));

    socket.on('disconnect', () => {
      for (const a of attachments.values()) a.close(true);
    });
  });
}
