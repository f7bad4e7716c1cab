// pino as the command line's bundle sees it (scripts/build-cli.cjs aliases the package to this
// file): the engine's modules make fallback loggers with pino() at import or construction, and a
// command that logs nothing should not pay for loading pino. Each logger here loads the real one
// when it first writes a line at an enabled level.
import { createRequire } from 'node:module';
import type * as Pino from 'pino';
import { lazyLogger } from './lazy-log.js';

// Not a literal import: the bundle's alias would turn it back into this file.
const PACKAGE = ['pi', 'no'].join('');
let real: typeof Pino | null = null;
const load = (): typeof Pino => (real ??= createRequire(import.meta.url)(PACKAGE) as typeof Pino);

export function pino(options?: Pino.LoggerOptions, stream?: Pino.DestinationStream): Pino.Logger {
  return lazyLogger(options?.level ?? 'info', () => load().pino(options ?? {}, stream as Pino.DestinationStream));
}
pino.destination = (...args: Parameters<typeof Pino.destination>) => load().destination(...args);

export default pino;
