// The `layercake` command tree: the global flags and every verb, with its help in one language.
// Apart from main.ts (which parses and exits) so a test can walk every command and option.
import { Command } from 'commander';
import { createProgram, type Program } from './commands/shared.js';
import type { CliContext } from './context.js';
import { helpLayout, usageError, type HelpText } from './help-text.js';

type Register = (program: Program) => void;

// Each verb's file, loaded only when its verb runs (a dynamic import is where the bundle splits
// off what the verb needs). help.test.ts checks that every file adds exactly the verbs listed.
const verbFiles: Record<string, () => Promise<Register>> = {
  run: async () => (await import('./commands/run.js')).registerRun,
  exec: async () => (await import('./commands/exec.js')).registerExec,
  manage: async () => (await import('./commands/manage.js')).registerManage,
  images: async () => (await import('./commands/images.js')).registerImages,
  vm: async () => (await import('./commands/vm.js')).registerVm,
  compare: async () => (await import('./commands/compare.js')).registerCompare,
  registry: async () => (await import('./commands/registry.js')).registerRegistry,
};

export const VERBS: Readonly<Record<string, keyof typeof verbFiles>> = {
  run: 'run', create: 'run', start: 'run', attach: 'run',
  exec: 'exec',
  ps: 'manage', stop: 'manage', kill: 'manage', rm: 'manage', pause: 'manage', unpause: 'manage',
  wait: 'manage', logs: 'manage', diff: 'manage', commit: 'manage', stats: 'manage', inspect: 'manage',
  images: 'images', history: 'images', tag: 'images', rmi: 'images', save: 'images', load: 'images', build: 'images',
  vm: 'vm',
  compare: 'compare',
  pull: 'registry', push: 'registry', login: 'registry', logout: 'registry',
};

/** The files that add `verb` (all of them for help, a mistyped verb, or none). */
export function verbFilesFor(verb: string | undefined): string[] {
  const file = verb === undefined ? undefined : VERBS[verb];
  return file ? [file] : Object.keys(verbFiles);
}

export interface GlobalFlags {
  data?: string;
  session: string;
  lang?: string;
}

/**
 * The command tree with the verbs of `files` (verbFilesFor: the one verb about to run, so a start
 * loads only its file; all by default).
 */
export async function layercakeProgram(
  t: HelpText,
  context: (globals: GlobalFlags) => CliContext,
  setStatus: (code: number) => void,
  files: readonly string[] = Object.keys(verbFiles),
): Promise<Command> {
  const root = new Command('layercake')
    .description(t('layercake'))
    .option('--data <dir>', t('layercake.data'))
    .option('--session <name>', t('layercake.session'), 'local')
    .option('--lang <ko|en>', t('layercake.lang'))
    // Set before any verb is added: each command copies the root's help option and layout.
    .helpOption('-h, --help', t('help'))
    .helpCommand('help [command]', t('help.command'))
    .configureHelp(helpLayout(t))
    .enablePositionalOptions()
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(usageError(t, s)),
    });

  const program = createProgram(root, t, () => context(root.opts<GlobalFlags>()), setStatus);
  const registers = await Promise.all(files.map((file) => verbFiles[file]!()));
  for (const register of registers) register(program);
  return root;
}
