// Every environment variable an app process reads, validated once at start-up (as the worker's
// config.ts does for the engine): a bad one is named, never silently defaulted.
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';

/** The checkout this file belongs to: .data/ and app/ are found from here. */
export const REPO_ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
export const APP_DIR = join(REPO_ROOT, 'app');

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Interface to listen on (all by default, as `next start` does). */
  HOST: z.string().min(1).optional(),
  /** The Redis every app process and worker share (`npm start` passes its private one). */
  REDIS_URL: z.string().url(),
  LAYERCAKE_REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/).default('layercake'),
  /** The cookie-signing secret shared by several hosts; otherwise the host's secret file. */
  LAYERCAKE_APP_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  LAYERCAKE_APP_SECRET_FILE: z
    .string()
    .min(1)
    .transform((p) => (isAbsolute(p) ? p : resolve(REPO_ROOT, p)))
    .default(join(REPO_ROOT, '.data/app-secret')),
  LAYERCAKE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type AppConfig = Readonly<{
  port: number;
  host: string | undefined;
  redisUrl: string;
  prefix: string;
  secretFromEnv: string | undefined;
  secretFile: string;
  logLevel: string;
}>;

export function loadAppConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid environment for the app:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  return Object.freeze({
    port: c.PORT,
    host: c.HOST,
    redisUrl: c.REDIS_URL,
    prefix: c.LAYERCAKE_REDIS_PREFIX,
    secretFromEnv: c.LAYERCAKE_APP_SECRET,
    secretFile: c.LAYERCAKE_APP_SECRET_FILE,
    logLevel: c.LAYERCAKE_LOG_LEVEL,
  });
}
