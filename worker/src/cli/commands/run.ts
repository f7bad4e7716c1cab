// run, create, start, attach: making containers and joining the terminal to them.
import type { Command } from 'commander';
import type { ContainerAttachment, ContainerInfo, Containers, CreateRequest } from '../../containers/index.js';
import type { CliContext } from '../context.js';
import { collect, environment, parseBytes, parseNetwork, parsePositive } from '../options.js';
import type { HelpText } from '../help-text.js';
import { localConsoleSize, relayInput, relayOutput } from '../terminal.js';
import { endProcess, isEnding, takeOverSignals, type TerminationSignal } from '../termination.js';
import { each, type Program } from './shared.js';

interface RunFlags {
  interactive?: boolean;
  tty?: boolean;
  detach?: boolean;
  rm?: boolean;
  name?: string;
  env: string[];
  workdir?: string;
  user?: string;
  memory?: string;
  pidsLimit?: string;
  cpus?: string;
  entrypoint?: string;
  network: string[];
  net: string[];
}

function containerFlags(cmd: Command, t: HelpText): Command {
  return cmd
    .option('-i, --interactive', t('run.interactive'))
    .option('-t, --tty', t('run.tty'))
    .option('--rm', t('run.rm'))
    .option('--name <name>', t('run.name'))
    .option('-e, --env <KEY=VALUE>', t('run.env'), collect, [])
    .option('-w, --workdir <dir>', t('run.workdir'))
    .option('-u, --user <user[:group]>', t('run.user'))
    .option('-m, --memory <bytes>', t('run.memory'))
    .option('--pids-limit <n>', t('run.pidsLimit'))
    .option('--cpus <n>', t('run.cpus'))
    .option('--entrypoint <command>', t('run.entrypoint'))
    .option('--network <network>', t('run.network'), collect, [])
    // Docker's older spelling, which its help no longer shows either.
    .addOption(cmd.createOption('--net <network>', t('run.network')).argParser(collect).default([]).hideHelp())
    .argument('<image>')
    .argument('[command...]')
    // Options after the image belong to the command: `run busybox ls -l`.
    .passThroughOptions();
}

function request(image: string, command: string[], f: RunFlags): CreateRequest {
  const network = parseNetwork([...f.network, ...f.net]);
  const limits: NonNullable<CreateRequest['limits']> = {};
  if (f.memory !== undefined) limits.memoryBytes = parseBytes('--memory', f.memory);
  if (f.pidsLimit !== undefined) limits.pidsMax = parsePositive('--pids-limit', f.pidsLimit);
  if (f.cpus !== undefined) limits.cpus = parsePositive('--cpus', f.cpus, false);
  return {
    image,
    ...(command.length > 0 ? { cmd: command } : {}),
    ...(f.entrypoint !== undefined ? { entrypoint: f.entrypoint === '' ? [] : [f.entrypoint] } : {}),
    ...(f.name !== undefined ? { name: f.name } : {}),
    env: environment(f.env),
    ...(f.workdir !== undefined ? { workingDir: f.workdir } : {}),
    ...(f.user !== undefined ? { user: f.user } : {}),
    tty: f.tty ?? false,
    openStdin: f.interactive ?? false,
    autoRemove: f.rm ?? false,
    network,
    limits,
  };
}

/**
 * The terminal joined to a container until it exits (its exit code) or the learner detaches (0).
 * Without a terminal, Ctrl-C and TERM sent to this process are passed to the container (Docker's
 * --sig-proxy); with one, Ctrl-C is just a key the container reads. When this process itself is
 * ended (HUP: the terminal is gone; TERM or INT with a terminal; a second one without), a `--rm`
 * container is removed with it, as Docker's daemon removes it: nothing is left running that no
 * one will clean up.
 */
export async function attachAndWait(
  containers: Containers,
  container: ContainerInfo,
  attachment: ContainerAttachment,
  options: { interactive: boolean },
): Promise<number> {
  const tty = container.config.tty;
  relayOutput(attachment);
  const ended = new Promise<void>((resolve) => {
    attachment.on('exit', () => resolve());
    attachment.on('close', () => resolve());
  });
  const relay = relayInput(
    {
      write: (d) => attachment.write(d),
      resize: (rows, cols) => attachment.resize(rows, cols),
      endInput: () => attachment.closeInput(),
      detach: () => attachment.detach(),
    },
    { tty, interactive: options.interactive },
  );
  let proxied = 0;
  const giveBack = takeOverSignals((signal: TerminationSignal) => {
    if (isEnding()) return;
    if (!tty && signal !== 'SIGHUP' && proxied++ === 0) {
      void containers.kill(container.id, signal).catch(() => undefined);
      return;
    }
    void endProcess(signal, async () => {
      if (container.config.autoRemove) await containers.remove(container.id, { force: true });
    });
  });
  try {
    const how = await Promise.race([ended.then(() => 'ended' as const), relay.detached.then(() => 'detached' as const)]);
    // Ended by a signal (the container removed with it): the exit status is the signal's.
    if (isEnding()) return await new Promise<never>(() => undefined);
    if (how === 'detached') {
      attachment.detach();
      return 0;
    }
    const exit = await containers.wait(container.id);
    if (container.config.autoRemove) await containers.remove(container.id, { force: true }).catch(() => undefined);
    return exit.exitCode;
  } finally {
    relay.stop();
    giveBack();
  }
}

export function registerRun(program: Program): void {
  const { t } = program;
  containerFlags(program.command('run').description(t('run')), t)
    .option('-d, --detach', t('run.detach'))
    .action(
      program.verb(async (ctx: CliContext, image: string, command: string[], f: RunFlags) => {
        // A bad flag value is refused before anything is opened or pulled.
        const req = request(image, command, f);
        const { containers } = await ctx.engine();
        await ctx.image(image);
        if (f.detach) {
          const { container } = await containers.run(req);
          process.stdout.write(`${container.id}\n`);
          return 0;
        }
        // A foreground container reaches package archives as the worker's do: this verb lasts as
        // long as it, and so does the relay its door leads to (a detached one would outlive it).
        // `--network none` has no door, so no relay is started for it.
        const outside = req.network === 'none' ? null : await ctx.containersWithEgress();
        const consoleSize = f.tty ? localConsoleSize() : undefined;
        const { container, attachment } = await (outside ?? containers).run(outside ? { ...req, egress: true } : req, {
          attach: true,
          ...(consoleSize ? { consoleSize } : {}),
        });
        return attachAndWait(outside ?? containers, container, attachment!, { interactive: f.interactive ?? false });
      }, 125),
    );

  containerFlags(program.command('create').description(t('create')), t).action(
    program.verb(async (ctx: CliContext, image: string, command: string[], f: RunFlags) => {
      const req = request(image, command, f);
      const { containers } = await ctx.engine();
      await ctx.image(image);
      const container = await containers.create(req);
      process.stdout.write(`${container.id}\n`);
      return 0;
    }, 125),
  );

  program
    .command('start')
    .description(t('start'))
    .option('-a, --attach', t('start.attach'))
    .option('-i, --interactive', t('start.interactive'))
    .argument('<container...>')
    .action(
      program.verb(async (ctx: CliContext, refs: string[], f: { attach?: boolean; interactive?: boolean }) => {
        const { containers } = await ctx.engine();
        if (f.attach || f.interactive) {
          const ref = refs[0]!;
          const before = await containers.inspect(ref);
          const consoleSize = before.config.tty ? localConsoleSize() : undefined;
          const { container, attachment } = await containers.start(ref, { attach: true, ...(consoleSize ? { consoleSize } : {}) });
          return attachAndWait(containers, container, attachment!, { interactive: (f.interactive ?? false) && container.config.openStdin });
        }
        return each(ctx, refs, async (ref) => {
          await containers.start(ref);
          process.stdout.write(`${ref}\n`);
        });
      }),
    );

  program
    .command('attach')
    .description(t('attach'))
    .option('--no-stdin', t('attach.noStdin'))
    .argument('<container>')
    .action(
      program.verb(async (ctx: CliContext, ref: string, f: { stdin: boolean }) => {
        const { containers } = await ctx.engine();
        const attachment = await containers.attach(ref);
        const container = await containers.inspect(ref);
        if (container.config.tty) {
          const size = localConsoleSize();
          if (size) attachment.resize(size.rows, size.cols);
        }
        return attachAndWait(containers, container, attachment, { interactive: f.stdin && container.config.openStdin });
      }),
    );
}
