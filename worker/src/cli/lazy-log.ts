// The command line's log, with pino's loading left until a line is written at an enabled level:
// the engine's modules take a logger and make children of it, but a command that goes well
// mostly writes nothing, and pino with its streams costs a start-up tens of milliseconds.
import type { Logger } from 'pino';

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const METHODS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

type Child = [bindings: Record<string, unknown>, options?: object];

/** A logger at `level` whose lines go to the pino logger `open()` makes, made on the first line. */
export function lazyLogger(level: string, open: () => Logger): Logger {
  const threshold = LEVELS[level] ?? LEVELS.info!;
  let root: Logger | null = null;
  const make = (lineage: readonly Child[]): Logger => {
    let real: Logger | null = null;
    const target = (): Logger => (real ??= lineage.reduce((parent, [bindings, options]) => parent.child(bindings, options), (root ??= open())));
    const logger: Record<string, unknown> = {
      level,
      child: (bindings: Record<string, unknown>, options?: object) => make([...lineage, [bindings, options]]),
      isLevelEnabled: (name: string) => (LEVELS[name] ?? Infinity) >= threshold,
      silent: () => undefined,
    };
    for (const name of METHODS) {
      logger[name] = (...args: unknown[]) => {
        if (LEVELS[name]! >= threshold) (target()[name] as (...a: unknown[]) => void)(...args);
      };
    }
    return logger as unknown as Logger;
  };
  return make([]);
}
