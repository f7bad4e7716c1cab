// The `layercake` command tree: the global flags and every verb, with its help in one language.
// Apart from main.ts (which parses and exits) so a test can walk every command and option.
import { Command } from 'commander';
import { registerExec } from './commands/exec.js';
import { registerImages } from './commands/images.js';
import { registerManage } from './commands/manage.js';
import { registerRegistry } from './commands/registry.js';
import { registerRun } from './commands/run.js';
import { registerVm } from './commands/vm.js';
import { createProgram } from './commands/shared.js';
import type { CliContext } from './context.js';
import { helpLayout, usageError, type HelpText } from './help-text.js';

export interface GlobalFlags {
  data?: string;
  session: string;
  lang?: string;
}

export function layercakeProgram(t: HelpText, context: (globals: GlobalFlags) => CliContext, setStatus: (code: number) => void): Command {
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
  registerRun(program);
  registerExec(program);
  registerManage(program);
  registerImages(program);
  registerVm(program);
  registerRegistry(program);
  return root;
}

/** Global flags followed by a value, which is not the verb even when it does not start with `-`. */
const WITH_VALUE = new Set(['--data', '--session', '--lang']);

/**
 * The `--lang` before the verb (the last one, as commander keeps), read from the raw arguments
 * (without node and the script): the help texts are picked before commander parses anything.
 */
export function langFlag(args: readonly string[]): string | undefined {
  let lang: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('-') || arg === '--') break;
    if (arg.startsWith('--lang=')) lang = arg.slice('--lang='.length);
    else if (WITH_VALUE.has(arg)) {
      if (arg === '--lang') lang = args[i + 1];
      i++;
    }
  }
  return lang;
}
