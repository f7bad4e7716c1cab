// `layercake`: Docker's verbs, flags, output and exit statuses over this checkout's engine, so a
// learner's (and an operator's) muscle memory carries over. Global flags come before the verb:
//   layercake [--data DIR] [--session NAME] [--lang ko|en] VERB [FLAGS] [ARGS]
// Exit statuses: a flag error 125 (as Docker's CLI); a failed `run`/`create` 125, or 126/127 when
// the command cannot be run or found; `run`, `start -a`, `attach` and `exec` the container's or
// command's own status; other failures 1.
import { resolve } from 'node:path';
import { CommanderError } from 'commander';
import { ConfigError, loadConfig } from '../config.js';
import { VerbFailure } from './commands/shared.js';
import { CliContext } from './context.js';
import { describeError } from './errors.js';
import { helpText } from './help-text.js';
import { langFlag, localeFrom, verbOf } from './invocation.js';
import { layercakeProgram, verbFilesFor } from './program.js';
import { stdioMade } from './stdout.js';
import { installTermination, runAtEnd } from './termination.js';

const SESSION = /^[a-z0-9]{1,64}$/;

/**
 * Writes everything still buffered, then ends the process (stdin listeners would keep it alive).
 * A stream nobody made has nothing buffered, and is not made for this (stdout.ts).
 */
export function exit(code: number): never {
  const flush = (names: readonly ('stdout' | 'stderr')[]): void => {
    const [first, ...rest] = names;
    if (first === undefined) process.exit(code);
    else process[first].write('', () => flush(rest));
  };
  flush((['stdout', 'stderr'] as const).filter(stdioMade));
  // Unreachable once the writes flush; typed `never` for callers.
  return undefined as never;
}

export async function main(argv: readonly string[]): Promise<number> {
  let status = 0;
  let context: CliContext | null = null;
  installTermination(async () => {
    await (context as CliContext | null)?.discardOwnWork();
  });
  // Decided once, before commander parses: help, usage hints and errors all speak it.
  const locale = localeFrom(langFlag(argv.slice(2)));
  const t = helpText(locale);
  const args = argv.slice(2);
  const root = await layercakeProgram(
    t,
    (globals) => {
      if (context) return context;
      const config = loadConfig();
      if (!SESSION.test(globals.session)) throw new ConfigError(t('sessionInvalid', { session: globals.session }));
      context = new CliContext(config, globals.data ? resolve(globals.data) : config.dataDir, globals.session, locale);
      return context;
    },
    (code) => (status = code),
    verbFilesFor(verbOf(args)),
  );

  try {
    await root.parseAsync(argv, { from: 'node' });
    await runAtEnd();
    return status;
  } catch (err) {
    await runAtEnd();
    if (err instanceof CommanderError) {
      // Help and version print and succeed; a usage error was printed by commander.
      if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.help') return 0;
      const verb = root.args[0];
      process.stderr.write(`${t('seeHelp', { command: `layercake${verb ? ` ${verb}` : ''}` })}\n`);
      return 125;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 125;
    }
    const failure = err instanceof VerbFailure ? err : new VerbFailure(err, 1);
    const ctx = context as CliContext | null;
    const log = ctx?.log ?? (await import('pino')).pino({ level: 'silent' });
    process.stderr.write(`${describeError(failure.error, locale, log)}\n`);
    // Docker's statuses for a command that could not be run (126) or found (127); the engine's
    // modules are loaded only on this path, so a quick verb never pays for them.
    const { StartError } = await import('../containers/index.js');
    if (failure.error instanceof StartError) return failure.error.exitCode;
    return failure.exitCode;
  }
}

