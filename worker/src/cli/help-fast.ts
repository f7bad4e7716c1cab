// `layercake --help` (and `help VERB`, `VERB --help`) without commander: the bin prints the page
// help-pages.ts rendered at build time for this language and terminal width, so asking for help
// costs node's start and one small file. Anything else, or a page not found, returns false and
// the command line proper runs (main.ts), which prints the same text.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { helpRequest, langFlag, localeFrom, verbOf } from './invocation.js';

/**
 * One command's page: `texts[i]` is what commander prints at a width from `widths[i]` up to the
 * next entry's; the last holds for every wider terminal (no line of it wraps any more).
 */
export interface HelpPage {
  widths: number[];
  texts: string[];
}

/** The file a page is kept in: its command path with dots (`vm.run`), `layercake` for the root. */
export function pageName(path: readonly string[]): string {
  return path.length === 0 ? 'layercake' : path.join('.');
}

/** The text for a terminal `width` columns wide. */
export function pageAt(page: HelpPage, width: number): string {
  let i = 0;
  while (i + 1 < page.widths.length && page.widths[i + 1]! <= width) i++;
  return page.texts[i]!;
}

/** Prints the help page `args` ask for from `pagesDir`; false when they ask for something else. */
export function serveHelp(args: readonly string[], pagesDir: string): boolean {
  const path = helpRequest(args);
  if (!path) return false;
  const locale = localeFrom(langFlag(args));
  let page: HelpPage;
  try {
    // Names are [a-z-]+ (helpRequest), so the path stays inside pagesDir.
    page = JSON.parse(readFileSync(join(pagesDir, locale, `${pageName(path)}.json`), 'utf8')) as HelpPage;
  } catch {
    return false; // not a command (commander says so), or no pages built
  }
  // The width commander would use: the terminal's, or 80 when the output is not a terminal.
  const width = (process.stdout.isTTY ? process.stdout.columns : undefined) ?? 80;
  process.stdout.write(pageAt(page, width));
  return true;
}

/**
 * What the bin does for `args`: `help` (a page, served here), else it runs the command line with
 * the code cache of the verb's file (`verbs`: verb → file, program.ts VERBS as the build wrote
 * it), or `cli`'s (no verb, or one that does not exist: commander says so, with suggestions).
 */
export function verbFileFor(args: readonly string[], verbs: Readonly<Record<string, string>>): string {
  if (helpRequest(args)) return 'help';
  const verb = verbOf(args);
  // `build` has a cache of its own: it runs the builder, which no other verb of its file reaches,
  // and a cache written by one of those (the first to run after a new bundle) left every build
  // compiling the builder again (a cached rebuild 264 -> 226 ms median with its own, load 3-4).
  if (verb === 'build' && Object.hasOwn(verbs, verb)) return 'build';
  return (verb !== undefined && Object.hasOwn(verbs, verb) ? verbs[verb] : undefined) ?? 'cli';
}
