// What every gateway feature module gets. A feature is a file in app/server/features/ that
// exports `register(io, ctx)`; it adds its own socket handlers (each validated with its
// protocol/socket/<feature>.ts schema) and HTTP routes. The session always comes from the
// signed cookie (socket.data.sessionId), never from a message.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Server } from 'socket.io';

export interface GatewayContext {
  /** Shared, non-blocking Redis client (blocking reads need their own connection: redis.duplicate()). */
  redis: Redis;
  redisUrl: string;
  /** Key prefix shared with the worker (default `layercake`). */
  prefix: string;
  log: Logger;
}

export type GatewayServer = Server;
