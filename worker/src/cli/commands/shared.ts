// What every verb's file gets: the program to add its command to, its help texts in the
// learner's language, a wrapper that gives the action its context and records its exit status,
// and per-reference error handling for verbs that take several containers or images
// (`rm a b c` goes on after an error, exits 1).
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { describeError } from '../errors.js';
import type { HelpText } from '../help-text.js';

/** An action's outcome: the exit status, or an error with the status it should end with. */
export class VerbFailure extends Error {
  constructor(
    readonly error: unknown,
    readonly exitCode: number,
  ) {
    super('verb failed');
  }
}

export interface Program {
  command(name: string): Command;
  /** The descriptions for `--help`, in the language decided before any command is registered. */
  t: HelpText;
  /**
   * Wraps an action: it gets the context first, then commander's arguments (positionals, then
   * the options object). It returns the exit status; an error ends with `failureCode` (Docker:
   * 125 for `run`/`create`, whose own statuses belong to the container; 1 elsewhere).
   */
  verb<A extends unknown[]>(fn: (ctx: CliContext, ...args: A) => Promise<number | void>, failureCode?: number): (...args: unknown[]) => Promise<void>;
}

export function createProgram(root: Command, t: HelpText, context: () => CliContext, setStatus: (code: number) => void): Program {
  return {
    command: (name) => root.command(name),
    t,
    verb<A extends unknown[]>(fn: (ctx: CliContext, ...args: A) => Promise<number | void>, failureCode = 1) {
      return async (...args: unknown[]) => {
        // commander passes the Command itself last; verbs do not need it.
        const ctx = context();
        try {
          setStatus((await fn(ctx, ...(args.slice(0, -1) as A))) ?? 0);
        } catch (err) {
          throw new VerbFailure(err, failureCode);
        }
      };
    },
  };
}

/** Runs `fn` for each reference; errors are printed as they happen and make the status 1. */
export async function each(ctx: CliContext, refs: readonly string[], fn: (ref: string) => Promise<void>): Promise<number> {
  let status = 0;
  for (const ref of refs) {
    try {
      await fn(ref);
    } catch (err) {
      process.stderr.write(`${describeError(err, ctx.locale, ctx.log)}\n`);
      status = 1;
    }
  }
  return status;
}
