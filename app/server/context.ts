// What every gateway feature module gets. A feature is a file in app/server/features/ that
// exports `register(io, ctx)` and is listed in features/index.ts; it adds its own socket
// handlers (each validated with its protocol/socket/<feature>.ts schema, through ctx.handle)
// and HTTP routes (ctx.route). The session always comes from the signed cookie
// (socket.data.sessionId, set by the handshake middleware), never from a message; every
// socket of a session is in the room ctx.sessionRoom(sessionId).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';
import type { z } from 'zod';
import type { JobDispatcher } from '../../queue-client/index.js';
import type { RateLimiter, RateLimitKind } from './rate-limit.js';

export interface SocketData {
  sessionId: string;
}

// Event maps stay untyped here: each feature validates what arrives with its own zod schema.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyEvents = Record<string, (...args: any[]) => void>;
export type GatewayServer = Server<AnyEvents, AnyEvents, AnyEvents, SocketData>;
export type GatewaySocket = Socket<AnyEvents, AnyEvents, AnyEvents, SocketData>;

export type HttpHandler = (req: IncomingMessage, res: ServerResponse, sessionId: string) => Promise<void>;

export interface HandleOptions {
  /** Takes one token of this bucket before the handler runs. */
  rate?: RateLimitKind;
}

export interface GatewayContext {
  /** Shared, non-blocking Redis client (blocking reads need their own connection: redis.duplicate()). */
  redis: Redis;
  redisUrl: string;
  /** Key prefix shared with the worker (default `layercake`). */
  prefix: string;
  log: Logger;
  dispatcher: JobDispatcher;
  limiter: RateLimiter;
  sessionRoom(sessionId: string): string;
  /**
   * A request event: the payload is parsed with `schema` (a bad one → socket.badMessage), the
   * rate limit taken, the handler's value sent as `{ ok: true, ...value }`; a LearnerError as
   * `{ ok: false, error }`, anything else logged and sent as an internal error id.
   */
  handle<S extends z.ZodType, R extends object>(
    socket: GatewaySocket,
    event: string,
    schema: S,
    handler: (input: z.output<S>, sessionId: string) => Promise<R>,
    options?: HandleOptions,
  ): void;
  /** An HTTP route served before Next's handler, with the request's session (issued if missing). */
  route(method: string, path: string, handler: HttpHandler): void;
  /** Work to finish before the gateway closes (e.g. stop relays). */
  onClose(fn: () => Promise<void> | void): void;
}
