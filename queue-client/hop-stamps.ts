// When each hop of a run's way from the learner's click to its first event happened, so
// bench/build-queue-wait.ts can say which hop took the time: the gateway and the worker each log
// one `hops` line per run at debug level (free at the product's info level). Times are wall-clock
// ms with sub-ms precision (performance.timeOrigin + now()), comparable between this host's
// processes and a browser's own `performance.timeOrigin + performance.now()`.
import type { Logger } from 'pino';

export const wallClockMs = (): number => performance.timeOrigin + performance.now();

export class HopStamps {
  private readonly at: Record<string, number> = {};
  private logged = false;

  constructor(
    private readonly log: Logger,
    private readonly runId: string,
    /** Which process's part of the way: `gateway`, `subscription`, `worker`. */
    private readonly part: string,
  ) {}

  /** The first time `hop` happened (later marks of the same hop are ignored). */
  mark(hop: string, at = wallClockMs()): void {
    if (this.logged) return;
    this.at[hop] ??= at;
  }

  /** Logs the stamps once; nothing marked after it counts. */
  done(): void {
    if (this.logged) return;
    this.logged = true;
    if (this.log.isLevelEnabled('debug')) this.log.debug({ runId: this.runId, part: this.part, hops: this.at }, 'hops');
  }
}
