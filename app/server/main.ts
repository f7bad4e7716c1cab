// One app process: Next.js's handler and the socket.io gateway on one HTTP server.
//   node --import tsx app/server/main.ts [--dev]
// `--dev` runs Next's development server (npm run dev); otherwise the production build in
// app/.next (made by setup). When started by scripts/start.ts it reports readiness over IPC.
import { createRequire } from 'node:module';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { pino } from 'pino';
import { APP_DIR, loadAppConfig } from './config.js';
import { startGateway } from './gateway.js';
import { loadSecret } from './session.js';

export interface AppReady {
  url: string;
  port: number;
  pid: number;
  dev: boolean;
}

// Next is loaded without its types: they declare process.env.NODE_ENV required for every file
// of the root TypeScript project (the worker's included), which this file belongs to.
interface NextApp {
  prepare(): Promise<void>;
  getRequestHandler(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  close?(): Promise<void>;
}
type NextFactory = (options: { dev: boolean; dir: string; httpServer: Server; quiet: boolean }) => NextApp;
const next = createRequire(import.meta.url)('next') as NextFactory;

const dev = process.argv.includes('--dev');
const config = loadAppConfig();
const log = pino({ name: 'app', level: config.logLevel });

async function main(): Promise<void> {
  const secret = loadSecret(config.secretFile, config.secretFromEnv);
  let nextApp: NextApp | null = null;
  const gateway = await startGateway({
    redisUrl: config.redisUrl,
    prefix: config.prefix,
    secret,
    log,
    port: config.port,
    host: config.host,
    async onServer(httpServer) {
      // Next's dev server listens on the same server for its hot-reload upgrades.
      nextApp = next({ dev, dir: APP_DIR, httpServer, quiet: !dev });
      await nextApp.prepare();
    },
    next: (req, res) => nextApp!.getRequestHandler()(req, res),
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const killer = setTimeout(() => process.exit(1), 10_000);
    killer.unref();
    await gateway.close();
    await (nextApp as NextApp | null)?.close?.();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  // One learner's bad request must never take the process down with the others' sessions.
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));

  const ready: AppReady = { url: gateway.url, port: gateway.port, pid: process.pid, dev };
  if (process.send) process.send(ready);
  else process.stdout.write(`layercake app ready: ${gateway.url}${dev ? ' (development)' : ''}\n`);
}

main().catch((err: unknown) => {
  log.error({ err }, 'the app did not start');
  process.exit(1);
});
