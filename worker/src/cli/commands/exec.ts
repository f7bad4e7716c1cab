// exec: another command in a running container, in the foreground, exiting with its status
// (126/127 when it cannot be run, as Docker).
import type { Readable } from 'node:stream';
import { isLauncherLine } from '../../runtime/launcher-error.js';
import type { CliContext } from '../context.js';
import { collect, environment } from '../options.js';
import { localConsoleSize, relayInput } from '../terminal.js';
import type { Program } from './shared.js';

interface ExecFlags {
  interactive?: boolean;
  tty?: boolean;
  env: string[];
  user?: string;
  workdir?: string;
}

/** Copies a stream to ours, leaving out the launcher's own lines (each comes in one write). */
function relayOutput(from: Readable, to: NodeJS.WriteStream): void {
  from.on('data', (chunk: Buffer) => {
    if (!isLauncherLine(chunk.toString('latin1'))) to.write(chunk);
  });
}

export function registerExec(program: Program): void {
  const { t } = program;
  program
    .command('exec')
    .description(t('exec'))
    .option('-i, --interactive', t('exec.interactive'))
    .option('-t, --tty', t('exec.tty'))
    .option('-e, --env <KEY=VALUE>', t('exec.env'), collect, [])
    .option('-u, --user <user[:group]>', t('exec.user'))
    .option('-w, --workdir <dir>', t('exec.workdir'))
    .argument('<container>')
    .argument('<command...>')
    .passThroughOptions()
    .action(
      program.verb(async (ctx: CliContext, ref: string, command: string[], f: ExecFlags) => {
        const { containers } = await ctx.engine();
        const tty = f.tty ? (localConsoleSize() ?? { rows: 24, cols: 80 }) : undefined;
        const session = await containers.exec(ref, {
          cmd: command,
          env: environment(f.env),
          ...(f.user !== undefined ? { user: f.user } : {}),
          ...(f.workdir !== undefined ? { workingDir: f.workdir } : {}),
          ...(tty ? { tty } : {}),
        });
        const proc = session.process;
        relayOutput(proc.stdout, process.stdout);
        relayOutput(proc.stderr, process.stderr);
        const relay = relayInput(
          { write: (d) => proc.stdin.write(d), resize: (rows, cols) => proc.resize(rows, cols), endInput: () => proc.stdin.end() },
          { tty: !!f.tty, interactive: f.interactive ?? false },
        );
        if (!f.interactive) proc.stdin.end();
        try {
          return (await session.exited).exitCode;
        } finally {
          relay.stop();
        }
      }),
    );
}
