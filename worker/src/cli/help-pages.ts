// Every command's `--help` page in each language, as commander renders it at every terminal width,
// computed when the command line is built (scripts/build-cli.cjs) from the same tree the slow path
// parses with (program.ts). help-fast.ts prints them without loading commander, zod or any verb.
import type { Command } from 'commander';
import type { Locale } from '../../../protocol/errors.js';
import { pageName, type HelpPage } from './help-fast.js';
import { helpText } from './help-text.js';
import { layercakeProgram, VERBS } from './program.js';

function render(command: Command, width: number): string {
  command.configureHelp({ ...command.configureHelp(), helpWidth: width });
  return command.helpInformation();
}

const WIDE = 100_000;

// Below 40 columns commander wraps nothing (its minWidthToWrap), as on a terminal wider than the
// widest line: both print the page as rendered unbounded. In between, its greedy wrapping gives
// the same text at every width from a to b when it gives the same at a and at b, except across the
// width where the items' descriptions start to wrap (their column is 40 wide): so the range is cut
// there, and each piece is bisected instead of rendered at every width.
const MIN_WRAP = 40;

function pageOf(command: Command): HelpPage {
  const wide = render(command, WIDE);
  const helper = command.createHelp();
  const widest = Math.max(...wide.split('\n').map((line) => helper.displayWidth(line)));
  const itemsWrapFrom = helper.padWidth(command, helper) + 2 + 2 + MIN_WRAP; // indent, spacer, column
  const texts = new Map<number, string>([[0, wide]]);
  const at = (width: number): string => {
    let text = texts.get(width);
    if (text === undefined) texts.set(width, (text = render(command, width)));
    return text;
  };
  const fill = (from: number, to: number): void => {
    if (at(from) === at(to) || to - from <= 1) return;
    const middle = Math.floor((from + to) / 2);
    fill(from, middle);
    fill(middle, to);
  };
  const cuts = [MIN_WRAP, itemsWrapFrom, widest].filter((w) => w >= MIN_WRAP && w <= widest).sort((a, b) => a - b);
  for (let i = 0; i + 1 < cuts.length; i++) fill(cuts[i]!, cuts[i + 1]! - 1);
  for (const cut of cuts) at(cut);
  texts.set(widest, wide);

  const page: HelpPage = { widths: [], texts: [] };
  for (const [width, text] of [...texts].sort(([a], [b]) => a - b)) {
    if (text === page.texts[page.texts.length - 1]) continue;
    page.widths.push(width);
    page.texts.push(text);
  }
  return page;
}

function tree(locale: Locale): Promise<Command> {
  return layercakeProgram(
    helpText(locale),
    () => {
      throw new Error('help pages run no verb');
    },
    () => undefined,
  );
}

/**
 * What the pages are made of: every page of both languages unbounded (its words, terms and
 * padding; the wrapping at each width follows from them). A build whose contents equal the last
 * build's reuses its pages.
 */
export async function helpContents(): Promise<string> {
  const texts: string[] = [];
  for (const locale of ['en', 'ko'] as const) {
    const walk = (command: Command): void => {
      texts.push(render(command, WIDE));
      for (const sub of command.commands) walk(sub);
    };
    walk(await tree(locale));
  }
  return texts.join('\0');
}

/** Every page of the tree in `locale`, by pageName. */
export async function helpPages(locale: Locale): Promise<Record<string, HelpPage>> {
  const root = await tree(locale);
  const pages: Record<string, HelpPage> = {};
  const walk = (command: Command, path: string[]): void => {
    pages[pageName(path)] = pageOf(command);
    for (const sub of command.commands) walk(sub, [...path, sub.name()]);
  };
  walk(root, []);
  return pages;
}

/** Which verb file adds each verb (program.ts): the build writes it beside the bundle, so the bin picks the verb's code cache. */
export function verbTable(): Record<string, string> {
  return { ...VERBS };
}
