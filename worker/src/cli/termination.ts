// How the command line ends when it is killed politely (SIGINT, SIGTERM, SIGHUP): it removes its
// own work in progress first (a half-copied `commit`, a half-staged `load`: the store's tmp/
// entries named with this pid) and exits with 128 + the signal's number, as a shell reports it.
// A verb that gives a signal its own meaning (an attached `run` passes Ctrl-C to the container)
// takes the signals over for as long as it runs. SIGKILL cannot be caught: what a SIGKILLed
// command left is removed when the next one opens the store (ImageStore.open).
import { constants } from 'node:os';

export type TerminationSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';
const SIGNALS: readonly TerminationSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

type SignalHandler = (signal: TerminationSignal) => void;

let takenOver: SignalHandler | null = null;
let ending = false;
const endings: (() => Promise<void>)[] = [];

/**
 * Runs `fn` when the process ends: after the verb (runAtEnd, from main) or on a signal, after
 * the signal's own cleanup. What other processes of the host share goes here (this verb's hold
 * on the package proxy), so no way of ending leaves it held.
 */
export function atEnd(fn: () => Promise<void>): void {
  endings.push(fn);
}

export async function runAtEnd(): Promise<void> {
  for (const fn of endings.splice(0)) await fn().catch(() => undefined);
}

/** The status a shell shows for a process ended by `signal`. */
export function signalStatus(signal: TerminationSignal): number {
  return 128 + constants.signals[signal];
}

/** Installs the handlers once: `cleanup` removes this process's work in progress, then the process exits. */
export function installTermination(cleanup: () => Promise<void>): void {
  for (const signal of SIGNALS) {
    process.on(signal, () => {
      if (takenOver) return takenOver(signal);
      // A verb listening itself (`logs -f` and `stats` stop on Ctrl-C) decides how it ends.
      if (process.listenerCount(signal) > 1 || ending) return;
      ending = true;
      void endProcess(signal, cleanup);
    });
  }
}

/** Whether the process is ending on a signal: a verb then leaves its status to endProcess. */
export function isEnding(): boolean {
  return ending;
}

/** Cleans up, then exits with the signal's status. */
export async function endProcess(signal: TerminationSignal, cleanup: () => Promise<void> = async () => {}): Promise<never> {
  ending = true;
  await cleanup().catch(() => undefined);
  await runAtEnd();
  process.exit(signalStatus(signal));
}

/** Gives every termination signal to `handler` until the returned function is called. */
export function takeOverSignals(handler: SignalHandler): () => void {
  takenOver = handler;
  return () => {
    if (takenOver === handler) takenOver = null;
  };
}
