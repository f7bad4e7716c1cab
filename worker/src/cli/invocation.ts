// What the raw arguments (without node and the script) say before commander parses them: the
// language, the verb, and whether they only ask for help. Light on purpose (no commander, no
// zod): the start-up path reads it before deciding what to load (help-pages.ts, program.ts).
import type { Locale } from '../../../protocol/errors.js';

/** Global flags followed by a value, which is not the verb even when it does not start with `-`. */
const WITH_VALUE = new Set(['--data', '--session', '--lang']);

interface Globals {
  /** The last `--lang` before the verb (commander keeps the last one). */
  lang: string | undefined;
  /** Where the verb starts: the first argument that is neither a flag nor a global flag's value. */
  rest: number;
  /** The flags before the verb other than the global ones (`--help`, or a mistake). */
  others: string[];
}

function globals(args: readonly string[]): Globals {
  let lang: string | undefined;
  const others: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('-') || arg === '--') break;
    if (arg.startsWith('--lang=')) lang = arg.slice('--lang='.length);
    else if (WITH_VALUE.has(arg)) {
      if (arg === '--lang') lang = args[i + 1];
      i++;
    } else if (!arg.startsWith('--data=') && !arg.startsWith('--session=')) others.push(arg);
  }
  return { lang, rest: Math.min(i, args.length), others };
}

/** The `--lang` before the verb: the help texts are picked before commander parses anything. */
export function langFlag(args: readonly string[]): string | undefined {
  return globals(args).lang;
}

export function localeFrom(option: string | undefined, env: NodeJS.ProcessEnv = process.env): Locale {
  // An empty variable is an unset one (POSIX): `LC_ALL= LANG=ko_KR.UTF-8` is Korean.
  const wanted = option ?? ([env.LC_ALL, env.LC_MESSAGES, env.LANG].find((v) => v !== undefined && v !== '') ?? '');
  return wanted.toLowerCase().startsWith('ko') ? 'ko' : 'en';
}

/** The verb named after the global flags, if any: program.ts registers only that verb's commands. */
export function verbOf(args: readonly string[]): string | undefined {
  const arg = args[globals(args).rest];
  return arg === undefined || arg.startsWith('-') ? undefined : arg;
}

const HELP_FLAGS = new Set(['--help', '-h']);
const NAME = /^[a-z][a-z-]*$/;

/**
 * The command whose help these arguments ask for, as its path of names ([] for `layercake`
 * itself), when they ask for nothing else: `--help`, `help [VERB...]`, `VERB... --help`. Anything
 * more (`run busybox --help` passes --help to the container) is left to commander.
 */
export function helpRequest(args: readonly string[]): string[] | null {
  const { rest, others } = globals(args);
  const words = args.slice(rest);
  if (others.length > 0) return others.length === 1 && HELP_FLAGS.has(others[0]!) && words.length === 0 ? [] : null;
  if (words.length === 0) return null;
  if (words[0] === 'help') {
    const path = words.slice(1);
    return path.every((w) => NAME.test(w)) ? path : null;
  }
  const last = words[words.length - 1]!;
  const path = words.slice(0, -1);
  return HELP_FLAGS.has(last) && path.length > 0 && path.every((w) => NAME.test(w) && w !== 'help') ? path : null;
}
