// `layercake --help` in both languages: the binary picks the language as it does for errors
// (--lang before the verb, else $LC_ALL/$LANG), and every command and option of the tree has a
// description in each, so a verb added without its Korean text fails here. No engine is needed.
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import type { Locale } from '../../../protocol/errors.js';
import { helpText } from './help-text.js';
import { langFlag, layercakeProgram } from './program.js';
import { spawnCli, type Result } from './test-support/spawn-cli.js';

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

function tree(locale: Locale): Command {
  return layercakeProgram(
    helpText(locale),
    () => {
      throw new Error('no verb runs here');
    },
    () => undefined,
  );
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

  it('has a description for every command and option in both languages, Korean ones in Korean', () => {
    const trees = { en: tree('en'), ko: tree('ko') };
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
