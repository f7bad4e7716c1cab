// This host's terminal endpoint: a socket.io server of its own (TERMINAL_PORT) that a browser
// reaches directly, so a keystroke and its echo pass one Node process on the way (this one)
// instead of the gateway, Redis and this process each way.
//
// The gateway hands out the way in (`terminal:direct`) after the engine approved the open: the
// address published here and a token (queue-client/terminal-token.ts) binding session, container,
// host, the page's origin and an expiry. The handshake must carry a valid token whose host is
// this one and whose origin is the handshake's; the socket may then attach to that container
// only, and only while this process relays it for that session. One attachment per socket; the
// messages are the gateway's (protocol/socket/terminal.ts). Input goes straight to the relay's
// attachment; output comes from the relay as it is read (relay.ts, "direct viewers").
// Anything refused is a LearnerError payload; an internal error is logged and sent as an id.
import { randomBytes } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Server, type ExtendedError, type Socket } from 'socket.io';
import { isLearnerError, LearnerError, type ErrorPayload } from '../../../protocol/errors.js';
import {
  TERMINAL_DIRECT_MESSAGE_MAX_BYTES,
  terminalAck,
  terminalAttach,
  terminalDetach,
  terminalDirectAuth,
  terminalEvents,
  terminalInput,
  terminalResize,
  type TerminalClosedFrame,
  type TerminalErrorFrame,
  type TerminalExitFrame,
  type TerminalOutputFrame,
} from '../../../protocol/socket/terminal.js';
import { oneFrameParser } from '../../../protocol/socket/one-frame-parser.js';
import { closeRedis, connectRedis } from '../../../queue-client/connection.js';
import { InputBudget } from '../../../queue-client/terminal-streams.js';
import { publishTerminalEndpoint, verifyTerminalToken, withdrawTerminalEndpoint, type TerminalClaims } from '../../../queue-client/terminal-token.js';
import { newErrorId } from '../queue/outcome.js';
import type { Relay } from './relay.js';
import type { TerminalRelays } from './relays.js';

export interface TerminalEndpointOptions {
  relays: Pick<TerminalRelays, 'relay'>;
  redisUrl: string;
  prefix: string;
  hostId: string;
  /** 0: any free port (tests). */
  port: number;
  /** Interface to listen on; all by default (browsers reach it as they reach the app). */
  host?: string;
  /** The address browsers use when it is not the app's host name at `port` (a proxy in front). */
  publicUrl?: string;
  log: Logger;
}

/** A handshake that sends no CONNECT (no token) within this is closed. */
const CONNECT_TIMEOUT_MS = 5_000;

interface Attached {
  id: string;
  relay: Relay;
  budget: InputBudget;
}

function refused(key: 'terminal.tokenRefused' | 'container.notFound', facts: Record<string, string> = {}): ExtendedError {
  const err = new Error(key) as ExtendedError;
  err.data = new LearnerError(key, facts).toPayload();
  return err;
}

export class TerminalEndpoint {
  private constructor(
    private readonly options: TerminalEndpointOptions,
    private readonly http: HttpServer,
    private readonly io: Server,
    private readonly redis: Redis,
    /** The port it listens on. */
    readonly port: number,
  ) {}

  /** Listens, then publishes the address and the key tokens are signed with. */
  static async start(options: TerminalEndpointOptions): Promise<TerminalEndpoint> {
    const http = createServer((_req, res) => {
      res.statusCode = 404;
      res.end();
    });
    const io = new Server(http, {
      serveClient: false,
      // WebSocket only: no long-polling requests (and so no CORS to grant); who may connect is
      // the token's to say, origin included.
      transports: ['websocket'],
      maxHttpBufferSize: TERMINAL_DIRECT_MESSAGE_MAX_BYTES,
      connectTimeout: CONNECT_TIMEOUT_MS,
      // No recovery of missed packets: the terminal resumes by byte offset itself.
      connectionStateRecovery: undefined,
      // A keystroke and its echo as one WebSocket message each, not socket.io's two.
      parser: oneFrameParser,
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(options.port, options.host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    const port = (http.address() as AddressInfo).port;
    const redis = connectRedis(options.redisUrl, `layercake-terminal-endpoint-${options.hostId}`);
    let key: Buffer;
    try {
      key = await publishTerminalEndpoint(redis, options.prefix, options.hostId, { url: options.publicUrl ?? null, port });
    } catch (err) {
      io.close();
      redis.disconnect();
      throw err;
    }
    const endpoint = new TerminalEndpoint(options, http, io, redis, port);
    endpoint.serve(key);
    return endpoint;
  }

  private serve(key: Buffer): void {
    const { hostId, log } = this.options;
    this.io.use((socket, next) => {
      const auth = terminalDirectAuth.safeParse(socket.handshake.auth);
      const check = auth.success ? verifyTerminalToken(key, auth.data.token) : ({ ok: false, reason: 'malformed' } as const);
      const origin = socket.handshake.headers.origin ?? '';
      if (!check.ok || check.claims.h !== hostId || check.claims.o !== origin) {
        log.warn({ reason: check.ok ? (check.claims.h !== hostId ? 'host' : 'origin') : check.reason, origin }, 'terminal endpoint: handshake refused');
        return next(refused('terminal.tokenRefused'));
      }
      socket.data.claims = check.claims;
      next();
    });
    this.io.on('connection', (socket) => this.connected(socket, socket.data.claims as TerminalClaims));
  }

  private connected(socket: Socket, claims: TerminalClaims): void {
    const { log } = this.options;
    let attached: Attached | null = null;
    let attaching = false;
    const payloadOf = (err: unknown): ErrorPayload => {
      if (isLearnerError(err)) return err.toPayload();
      const errorId = newErrorId();
      log.error({ err, errorId, container: claims.c }, 'terminal endpoint: request failed');
      return { kind: 'internal', errorId };
    };

    socket.on(terminalEvents.attach, async (message: unknown, reply: unknown) => {
      if (typeof reply !== 'function') return;
      const parsed = terminalAttach.safeParse(message);
      try {
        if (!parsed.success) throw badMessage(parsed.error.issues[0]?.path.join('.') ?? 'message');
        if (attached || attaching) throw new LearnerError('terminal.tooMany', { limit: 1 });
        // The token names the container: a token replayed for another names nothing here.
        if (parsed.data.containerId !== claims.c) throw new LearnerError('container.notFound', { ref: parsed.data.containerId });
        attaching = true;
        const relay = await this.options.relays.relay(claims.c);
        // Not relayed here (any more): the page attaches through the gateway, which asks again.
        if (!relay) throw new LearnerError('terminal.notAttached');
        // The engine opened it for this session; a token for another's container is refused.
        if (relay.session !== claims.s) throw new LearnerError('container.notFound', { ref: parsed.data.containerId });
        const id = randomBytes(9).toString('base64url');
        const { from, begin } = await relay
          .watch(id, parsed.data.after, {
            output: (data, offset) => socket.emit(terminalEvents.output, { attachmentId: id, offset, data } satisfies TerminalOutputFrame),
            exit: (exitCode, offset) => {
              socket.emit(terminalEvents.exit, { attachmentId: id, exitCode, offset } satisfies TerminalExitFrame);
              attached = null;
            },
            closed: () => {
              socket.emit(terminalEvents.closed, { attachmentId: id } satisfies TerminalClosedFrame);
              attached = null;
              socket.disconnect(true);
            },
          })
          .catch(() => {
            throw new LearnerError('terminal.notAttached');
          });
        if (socket.disconnected) return relay.leave(id);
        attached = { id, relay, budget: new InputBudget() };
        (reply as (r: unknown) => void)({ ok: true, attachmentId: id, containerId: claims.c, from });
        // After the reply, so the frames follow it (a client handling both in one task holds
        // them until it has read the reply: terminal-connection.ts).
        begin();
      } catch (err) {
        (reply as (r: unknown) => void)({ ok: false, error: payloadOf(err) });
      } finally {
        attaching = false;
      }
    });

    /** Input, resize and ack carry no reply (keystrokes must not wait): refusals come as terminal:error. */
    const onMessage = <T extends { attachmentId: string }>(
      event: string,
      schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[] }[] } } },
      fn: (a: Attached, m: T) => void,
    ) =>
      socket.on(event, (message: unknown) => {
        const parsed = schema.safeParse(message);
        const refuse = (err: unknown, attachmentId?: string) =>
          socket.emit(terminalEvents.error, { ...(attachmentId ? { attachmentId } : {}), error: payloadOf(err) } satisfies TerminalErrorFrame);
        if (!parsed.success) return refuse(badMessage(parsed.error.issues[0]?.path.join('.') ?? 'message'));
        if (!attached || attached.id !== parsed.data.attachmentId) return refuse(new LearnerError('terminal.notAttached'), parsed.data.attachmentId);
        try {
          fn(attached, parsed.data);
        } catch (err) {
          refuse(err, attached.id);
        }
      });
    onMessage(terminalEvents.input, terminalInput, (a, m) => {
      a.budget.take(m.data.byteLength);
      a.relay.input(m.data);
    });
    onMessage(terminalEvents.resize, terminalResize, (a, m) => a.relay.resize(m.rows, m.cols));
    onMessage(terminalEvents.ack, terminalAck, (a, m) => a.relay.ack(a.id, m.offset));
    socket.on(terminalEvents.detach, (message: unknown, reply: unknown) => {
      const parsed = terminalDetach.safeParse(message);
      if (parsed.success && attached?.id === parsed.data.attachmentId) {
        attached.relay.leave(attached.id);
        attached = null;
      }
      if (typeof reply === 'function') (reply as (r: unknown) => void)({ ok: true });
    });
    socket.on('disconnect', () => {
      attached?.relay.leave(attached.id);
      attached = null;
    });
  }

  /** Browsers connected now (tests, logs). */
  get connections(): number {
    return this.io.engine.clientsCount;
  }

  /** Withdraws the address (gateways hand out the relayed path), then closes every socket. */
  async close(): Promise<void> {
    await withdrawTerminalEndpoint(this.redis, this.options.prefix, this.options.hostId).catch(() => undefined);
    await new Promise<void>((resolve) => void this.io.close(() => resolve()));
    this.http.closeAllConnections?.();
    await closeRedis(this.redis);
  }
}

/** socket.badMessage naming the field (never the learner's input). */
function badMessage(where: string): LearnerError {
  return new LearnerError('socket.badMessage', { detail: `${where || 'message'}: invalid`.slice(0, 200) });
}
