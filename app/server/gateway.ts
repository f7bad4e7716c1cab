// The gateway: one HTTP server for Next's handler, the gateway's own HTTP routes and socket.io.
// It authenticates (the signed session cookie), validates with protocol/, enqueues through
// queue-client/ and relays; it never calls the engine. Nothing another app process needs is
// kept in this one's memory: rooms cross processes through socket.io's Redis adapter, files,
// run ownership and rate limits live in Redis.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import type { Logger } from 'pino';
import { Server, type ExtendedError } from 'socket.io';
import { ZodError } from 'zod';
import { closeRedis, connectRedis, JobDispatcher } from '../../queue-client/index.js';
import { LearnerError } from '../../protocol/errors.js';
import { SESSION_PATH, SOCKET_MESSAGE_MAX_BYTES, SOCKET_PATH } from '../../protocol/socket/common.js';
import type { GatewayContext, GatewayServer, GatewaySocket, HttpHandler } from './context.js';
import { features as allFeatures, type Feature } from './features/index.js';
import { sendJson } from './http.js';
import { DEFAULT_RATE_LIMITS, RateLimiter, type RateLimits } from './rate-limit.js';
import { badMessage, errorPayloadOf, failure } from './replies.js';
import { Sessions } from './session.js';

export interface GatewayOptions {
  redisUrl: string;
  prefix: string;
  secret: Buffer;
  log: Logger;
  port: number;
  host?: string;
  /** Next's request handler; without it (the gateway's own tests) other paths are 404. */
  next?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** Called once the HTTP server exists (Next's dev server listens for its HMR upgrades on it). */
  onServer?: (server: ReturnType<typeof createServer>) => Promise<void> | void;
  rateLimits?: RateLimits;
  features?: readonly Feature[];
}

export interface Gateway {
  url: string;
  port: number;
  io: GatewayServer;
  context: GatewayContext;
  close(): Promise<void>;
}

/** No Origin (not a browser's cross-site request), or the one this request was sent to. */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (!origin) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { log, prefix, redisUrl } = options;
  const sessions = new Sessions(options.secret);
  const redis = connectRedis(redisUrl, 'layercake-app');
  const pub = connectRedis(redisUrl, 'layercake-app-pub');
  const sub = pub.duplicate({ connectionName: 'layercake-app-sub' });
  const dispatcher = new JobDispatcher(redis, redisUrl, prefix);
  const routes = new Map<string, HttpHandler>();
  const closers: (() => Promise<void> | void)[] = [];

  const server = createServer((req, res) => void serve(req, res));
  await options.onServer?.(server);

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = (req.url ?? '/').split('?')[0]!;
      const route = routes.get(`${req.method} ${path}`);
      // Every response may carry a new cookie: the first page load issues the session.
      const sessionId = sessions.ensure(req, res);
      if (route) {
        // A page of another site must not write into the learner's files with their cookie.
        if (req.method !== 'GET' && !sameOrigin(req)) return sendJson(res, 403, { ok: false, error: new LearnerError('http.crossOrigin').toPayload() });
        return await route(req, res, sessionId);
      }
      if (path === SESSION_PATH) return sendJson(res, 200, { ok: true });
      if ([...routes.keys()].some((k) => k.endsWith(` ${path}`))) {
        return sendJson(res, 405, { ok: false, error: new LearnerError('http.methodNotAllowed', { method: req.method ?? '' }).toPayload() });
      }
      if (options.next) return await options.next(req, res);
      sendJson(res, 404, { ok: false, error: new LearnerError('http.notFound').toPayload() });
    } catch (err) {
      const error = errorPayloadOf(err, log, { url: req.url, method: req.method });
      if (!res.headersSent) sendJson(res, error.kind === 'learner' ? 400 : 500, { ok: false, error });
      else res.destroy();
    }
  }

  const io: GatewayServer = new Server(server, {
    path: SOCKET_PATH,
    serveClient: false,
    maxHttpBufferSize: SOCKET_MESSAGE_MAX_BYTES,
    // Other upgrades (Next's dev HMR) are not ours to refuse.
    destroyUpgrade: false,
    adapter: createAdapter(pub, sub, { key: `${prefix}:socket.io` }),
    // A page of another site must not open a socket with this learner's cookie.
    allowRequest: (req, callback) => callback(null, sameOrigin(req)),
  });

  // The session comes from the handshake's cookie and nothing else.
  io.use((socket, next) => {
    const sessionId = sessions.fromRequest(socket.request);
    if (!sessionId) {
      const err = new Error('session.missing') as ExtendedError;
      err.data = new LearnerError('session.missing').toPayload();
      return next(err);
    }
    socket.data.sessionId = sessionId;
    next();
  });
  io.on('connection', (socket) => {
    void socket.join(sessionRoom(socket.data.sessionId));
  });

  function sessionRoom(sessionId: string): string {
    return `session:${sessionId}`;
  }

  const limiter = new RateLimiter(redis, prefix, options.rateLimits ?? DEFAULT_RATE_LIMITS);
  const context: GatewayContext = {
    redis,
    redisUrl,
    prefix,
    log,
    dispatcher,
    limiter,
    sessionRoom,
    handle(socket: GatewaySocket, event, schema, handler, handleOptions = {}) {
      socket.on(event, async (...args: unknown[]) => {
        const ack = args[args.length - 1];
        // Nothing to answer to: a request without an ack is dropped, and said so in the log.
        if (typeof ack !== 'function') {
          log.debug({ event, session: socket.data.sessionId }, 'request without an ack');
          return;
        }
        const sessionId = socket.data.sessionId;
        try {
          if (args.length !== 2) throw new LearnerError('socket.badMessage', { detail: 'one payload expected' });
          const parsed = schema.safeParse(args[0]);
          if (!parsed.success) throw badMessage(parsed.error);
          if (handleOptions.rate) await limiter.take(sessionId, handleOptions.rate);
          const value = await handler(parsed.data, sessionId);
          ack({ ok: true, ...value });
        } catch (err) {
          ack(err instanceof ZodError ? { ok: false, error: badMessage(err).toPayload() } : failure(err, log, { event, session: sessionId }));
        }
      });
    },
    route(method, path, handler) {
      routes.set(`${method.toUpperCase()} ${path}`, handler);
    },
    onClose(fn) {
      closers.push(fn);
    },
  };

  for (const feature of options.features ?? allFeatures) await feature.register(io, context);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ port }, 'gateway listening');

  let closing: Promise<void> | null = null;
  return {
    url: `http://localhost:${port}`,
    port,
    io,
    context,
    close() {
      closing ??= (async () => {
        for (const fn of closers) await fn();
        // Closes every socket and the HTTP server (idle keep-alive connections with it).
        await new Promise<void>((resolve) => {
          io.close(() => resolve());
          server.closeAllConnections();
        });
        await dispatcher.close();
        await Promise.all([redis, pub, sub].map(closeRedis));
      })();
      return closing;
    },
  };
}
