// `layercake --help` in both languages: the binary picks the language as it does for errors
// (--lang before the verb, else $LC_ALL/$LANG), and every command and option of the tree has a
// description in each, so a verb added without its Korean text fails here. No engine is needed.
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import type { Locale } from '../../../protocol/errors.js';
import { pageAt, pageName } from './help-fast.js';
import { helpPages } from './help-pages.js';
import { helpText } from './help-text.js';
import { helpRequest, langFlag, localeFrom } from './invocation.js';
import { layercakeProgram, VERBS, verbFilesFor } from './program.js';
import { BIN, spawnCli, type Result } from './test-support/spawn-cli.js';

const en = helpText('en');
const ko = helpText('ko');
const HANGUL = /[\uac00-\ud7a3]/;

function cli(args: readonly string[], lang = 'C.UTF-8'): Promise<Result> {
  const env: NodeJS.ProcessEnv = { ...process.env, LANG: lang };
  // The variables that would outrank LANG in the runner's own environment.
  delete env.LC_ALL;
  delete env.LC_MESSAGES;
  return spawnCli(args, { env });
}

function tree(locale: Locale, files?: string[]): Promise<Command> {
  return layercakeProgram(
    helpText(locale),
    () => {
      throw new Error('no verb runs here');
    },
    () => undefined,
    files,
  );
}

/** Every command of the tree with its path of names. */
function commandsOf(root: Command, path: string[] = []): [string[], Command][] {
  return [[path, root], ...root.commands.flatMap((c) => commandsOf(c, [...path, c.name()]))];
}

describe('layercake --help', () => {
  it('speaks Korean with --lang ko, before or after other global flags', async () => {
    const root = await cli(['--lang', 'ko', '--help']);
    expect(root.code).toBe(0);
    expect(root.stdout).toContain('사용법: layercake');
    expect(root.stdout).toContain('명령:');
    expect(root.stdout).toContain(ko('ps'));
    expect(root.stdout).toContain(ko('help.command'));
    expect(root.stdout).toContain('(기본값: "local")');
    expect(root.stdout).not.toContain(en('ps'));
    expect(root.stdout).not.toContain('Options:');

    const run = await cli(['--session', 'x', '--lang=ko', 'run', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('사용법: layercake run');
    expect(run.stdout).toContain('옵션:');
    expect(run.stdout).toContain(ko('run.detach'));
    expect(run.stdout).toContain(ko('help'));
    expect(run.stdout).not.toContain(en('help'));
  });

  it('takes an empty $LC_ALL as unset (POSIX), and a set one over $LANG', () => {
    expect(localeFrom(undefined, { LC_ALL: '', LANG: 'ko_KR.UTF-8' })).toBe('ko');
    expect(localeFrom(undefined, { LC_ALL: '', LC_MESSAGES: '', LANG: 'ko_KR.UTF-8' })).toBe('ko');
    // The control: a set LC_ALL outranks LANG.
    expect(localeFrom(undefined, { LC_ALL: 'C.UTF-8', LANG: 'ko_KR.UTF-8' })).toBe('en');
    expect(localeFrom('ko', { LC_ALL: 'C.UTF-8' })).toBe('ko');
  });

  it('follows a Korean $LANG, and --lang en wins over it', async () => {
    const ps = await cli(['ps', '--help'], 'ko_KR.UTF-8');
    expect(ps.code).toBe(0);
    expect(ps.stdout).toContain(ko('ps.all'));

    const english = await cli(['--lang', 'en', 'ps', '--help'], 'ko_KR.UTF-8');
    expect(english.code).toBe(0);
    expect(english.stdout).toContain('Usage: layercake ps');
    expect(english.stdout).toContain(en('ps.all'));
    expect(english.stdout).toContain('display help for command');
    expect(english.stdout).not.toMatch(HANGUL);
  });

  it('says what went wrong with the usage in Korean too, and in commander’s own words in English', async () => {
    const korean = await cli(['--lang', 'ko', 'ps', '--al']);
    expect(korean).toMatchObject({ code: 125, stdout: '' });
    expect(korean.stderr).toBe("오류: '--al'은(는) 알 수 없는 옵션이에요.\n(--all을(를) 쓰려던 건가요?)\n자세한 사용법은 'layercake ps --help'로 확인하세요.\n");
    const english = await cli(['ps', '--al']);
    expect(english.stderr).toBe("error: unknown option '--al'\n(Did you mean --all?)\nSee 'layercake ps --help'.\n");
    expect((await cli(['--lang', 'ko', 'ps', 'x'])).stderr).toContain("오류: 'ps'에 인자가 너무 많아요. 0개를 받는데 1개를 줬어요.");
  });

  it('has a description for every command and option in both languages, Korean ones in Korean', async () => {
    const trees = { en: await tree('en'), ko: await tree('ko') };
    const shape = (root: Command) => [root, ...root.commands].map((c) => [c.name(), c.options.map((o) => o.flags)]);
    expect(shape(trees.ko)).toEqual(shape(trees.en));
    expect(trees.en.commands.length).toBeGreaterThan(20);

    for (const [locale, root] of Object.entries(trees)) {
      for (const command of [root, ...root.commands]) {
        const texts = [command.description(), ...command.options.map((o) => o.description)];
        for (const text of texts) {
          expect(text, `${locale} ${command.name()}`).toBeTruthy();
          if (locale === 'ko') expect(text, `${command.name()}: ${text}`).toMatch(HANGUL);
        }
        // Commander's own words (headings, the help option) are translated on every page.
        const page = command.helpInformation();
        if (locale === 'ko') expect(page, command.name()).not.toMatch(/Usage:|Options:|Commands:|display help/);
        else expect(page, command.name()).toContain('display help for command');
      }
    }
  });

  it('finds --lang only among the global flags before the verb', () => {
    expect(langFlag(['--lang', 'ko', 'ps'])).toBe('ko');
    expect(langFlag(['--lang=ko', '--help'])).toBe('ko');
    expect(langFlag(['--data', '/d', '--lang', 'ko', '--lang', 'en', 'run', '--lang', 'ko'])).toBe('en');
    expect(langFlag(['run', '--lang', 'ko'])).toBeUndefined();
    // The value of --session is not a verb, and not a --lang either.
    expect(langFlag(['--session', '--lang', 'ps'])).toBeUndefined();
    expect(langFlag([])).toBeUndefined();
  });
});

describe('help without loading the command line', () => {
  it('prints the page commander prints, at the width of the terminal or 80 when piped', async () => {
    const root = await tree('ko');
    const ps = root.commands.find((c) => c.name() === 'ps')!;
    const piped = await cli(['--lang', 'ko', 'ps', '--help']);
    expect(piped).toMatchObject({ code: 0, stderr: '' });
    expect(piped.stdout).toBe(ps.helpInformation()); // piped: commander's 80 columns

    // A terminal 61 columns wide: `script` gives the command a pseudo-terminal of that size.
    const narrow = await spawnCli([], { command: ['script', '-qec', `stty cols 61; ${process.execPath} ${BIN} --lang ko --help`, '/dev/null'], env: { ...process.env, LANG: 'C.UTF-8' } });
    root.configureHelp({ ...root.configureHelp(), helpWidth: 61 });
    expect(narrow.stdout.replace(/\r\n/g, '\n')).toBe(root.helpInformation());
  });

  it('has every page at every width as commander renders it', async () => {
    for (const locale of ['en', 'ko'] as const) {
      const pages = await helpPages(locale);
      const root = await tree(locale);
      for (const [path, command] of commandsOf(root)) {
        const page = pages[pageName(path)]!;
        expect(page, pageName(path)).toBeDefined();
        for (let width = 0; width <= 200; width++) {
          command.configureHelp({ ...command.configureHelp(), helpWidth: width });
          expect(pageAt(page, width), `${locale} ${pageName(path)} at ${width}`).toBe(command.helpInformation());
        }
      }
      expect(Object.keys(pages).sort()).toEqual(commandsOf(root).map(([path]) => pageName(path)).sort());
    }
  });

  it('takes only plain requests for help, and leaves the rest to commander', () => {
    expect(helpRequest(['--help'])).toEqual([]);
    expect(helpRequest(['--lang', 'ko', '-h'])).toEqual([]);
    expect(helpRequest(['help'])).toEqual([]);
    expect(helpRequest(['help', 'vm', 'run'])).toEqual(['vm', 'run']);
    expect(helpRequest(['--session', 'x', 'ps', '--help'])).toEqual(['ps']);
    expect(helpRequest(['vm', 'run', '-h'])).toEqual(['vm', 'run']);
    // --help after an image belongs to the container's command; these are commander's to judge.
    expect(helpRequest(['run', 'busybox', 'ls', '--help'])).toEqual(['run', 'busybox', 'ls']); // no such page: commander
    expect(helpRequest(['run', '--rm', 'busybox', '--help'])).toBeNull();
    expect(helpRequest(['help', '../etc'])).toBeNull();
    expect(helpRequest(['--bogus', '--help'])).toBeNull();
    expect(helpRequest([])).toBeNull();
    expect(helpRequest(['ps'])).toBeNull();
  });

  it('leaves a command it has no page of to commander, which shows the root page', async () => {
    const unknown = await cli(['nope', '--help']);
    expect(unknown).toMatchObject({ code: 0, stdout: (await tree('en')).helpInformation() });
  });
});

describe('a verb loads only its own file', () => {
  it('lists in VERBS exactly the verbs each file adds', async () => {
    for (const file of new Set(Object.values(VERBS))) {
      const root = await tree('en', [file]);
      const expected = Object.entries(VERBS).filter(([, f]) => f === file).map(([verb]) => verb);
      expect(root.commands.map((c) => c.name()).sort(), file).toEqual(expected.sort());
    }
    expect(verbFilesFor('nope')).toEqual(verbFilesFor(undefined));
    expect(verbFilesFor('ps')).toEqual(['manage']);
  });
});
