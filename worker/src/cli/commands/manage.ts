// ps, stop, kill, rm, pause, unpause, wait, logs, diff, commit, stats, inspect: looking after
// containers, printing what Docker prints.
import { once } from 'node:events';
import { InvalidArgumentError } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { LearnerError } from '../../../../protocol/errors.js';
import type { ContainerInfo, ContainerStats } from '../../containers/index.js';
import type { CliContext } from '../context.js';
import { formatList, parseFormat, runFormat, type ListFormat } from '../docker-format.js';
import { ago, binarySize, ellipsis, goTime, humanDuration, humanSize, table } from '../format.js';
import { treeBytes } from '../../sessions/quotas.js';
import { goJsonReplacer, nilMap, nilSlice, omitEmpty, type Json } from '../go-template.js';
import type { RunConfig } from '../../image-store/index.js';
import type { SessionImages } from '../../sessions/images.js';
import { parseNonNegativeInt } from '../options.js';
import { printable } from '../../../../protocol/printable.js';
import { CONFIG_OMIT_EMPTY, dockerImageView } from './images.js';
import { describeError } from '../errors.js';
import { writeOut } from '../stdout.js';
import { each, type Program } from './shared.js';

/** `Up 5 seconds`, `Up 2 minutes (Paused)`, `Exited (0) 3 seconds ago`, `Created`. */
export function statusText(c: ContainerInfo, now = Date.now()): string {
  switch (c.status) {
    case 'created':
      return 'Created';
    case 'running':
      return `Up ${humanDuration(now - Date.parse(c.startedAt ?? c.created))}`;
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(c.startedAt ?? c.created))} (Paused)`;
    case 'exited':
      return `Exited (${c.exitCode}) ${ago(c.finishedAt, now)}`;
  }
}

/**
 * The COMMAND column: the command line quoted, cut to 20 characters unless --no-trunc. As
 * Docker's daemon joins it, an argument with a space is put in single quotes: "sh -c 'exit 3'".
 */
export function commandText(c: ContainerInfo, truncate: boolean): string {
  const [path = '', ...args] = c.command;
  const line = [path, ...args.map((arg) => (arg.includes(' ') ? `'${arg}'` : arg))].join(' ');
  return JSON.stringify(truncate ? ellipsis(line, 20) : line);
}

const PS_FORMAT: ListFormat = {
  headers: {
    ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED', Ports: 'PORTS', State: 'STATE',
    Status: 'STATUS', Size: 'SIZE', Names: 'NAMES', Labels: 'LABELS', Mounts: 'MOUNTS', Networks: 'NETWORKS', LocalVolumes: 'LOCAL VOLUMES',
  },
  defaultFormat: 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}',
};

/** `-f KEY=VALUE`, as Docker's flag takes it: no `=` is a usage error (125). */
function filterOption(value: string, previous: string[] = []): string[] {
  if (!/^[^=]+=/.test(value)) throw new InvalidArgumentError('bad format of filter (expected name=value)');
  return [...previous, value];
}

const STATUSES = new Set(['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead']);

/**
 * Docker's `ps --filter`: values of one key match any, keys must all match. status, name (a
 * regular expression, as the daemon's), id (a prefix), exited (an exit code), ancestor (an image).
 */
async function psFilter(entries: readonly string[], images: SessionImages): Promise<(c: ContainerInfo) => boolean> {
  const byKey = new Map<string, string[]>();
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const [key, value] = [entry.slice(0, eq).toLowerCase(), entry.slice(eq + 1)];
    if (!['status', 'name', 'id', 'exited', 'ancestor'].includes(key)) throw new LearnerError('ps.invalidFilter', { filter: entry.slice(0, eq) });
    if ((key === 'status' && !STATUSES.has(value)) || (key === 'exited' && !/^-?\d+$/.test(value))) throw new LearnerError('ps.invalidFilter', { filter: entry });
    byKey.set(key, [...(byKey.get(key) ?? []), value]);
  }
  const ancestors = new Set<string>();
  for (const ref of byKey.get('ancestor') ?? []) ancestors.add(await images.resolve(ref).catch(() => ref));
  const names = (byKey.get('name') ?? []).map((source) => {
    try {
      return new RegExp(source);
    } catch {
      throw new LearnerError('ps.invalidFilter', { filter: `name=${source}` });
    }
  });
  const tests: Record<string, (c: ContainerInfo, value: string, i: number) => boolean> = {
    status: (c, value) => c.status === value,
    name: (c, _value, i) => names[i]!.test(c.name) || names[i]!.test(`/${c.name}`),
    id: (c, value) => c.id.startsWith(value),
    exited: (c, value) => c.status === 'exited' && c.exitCode === Number(value),
    ancestor: (c, value) => ancestors.has(c.imageId) || c.image === value,
  };
  return (c) => [...byKey].every(([key, values]) => values.some((value, i) => tests[key]!(c, value, i)));
}

/** Docker's SIZE: the writable layer's bytes, then the image's with them ("6B (virtual 1.98MB)"). */
export interface ContainerSize {
  writableBytes: number;
  imageBytes: number;
}

function sizeText(size: ContainerSize | null): string {
  if (size === null) return '0B'; // Docker's, when the size was not asked for
  return `${humanSize(size.writableBytes)} (virtual ${humanSize(size.imageBytes + size.writableBytes)})`;
}

/** Whether a --format reads .Size, which Docker then measures without -s (`{{json .}}` reads every field). */
function formatReadsSize(format: string | undefined): boolean {
  return format !== undefined && /\.Size\b|\bjson\s+\.\s*}}/.test(format);
}

/** A `ps` row as Docker's --format sees it (its fields, in the order `{{json .}}` prints them). */
function psRow(c: ContainerInfo, truncate: boolean, now: number, size: ContainerSize | null): Json {
  return {
    Command: commandText(c, truncate),
    CreatedAt: goTime(c.created),
    ID: truncate ? c.shortId : c.id,
    Image: c.image,
    Labels: '',
    LocalVolumes: '0',
    Mounts: '',
    Names: c.name,
    Networks: networksOf(c).join(','),
    Ports: '',
    RunningFor: ago(c.created, now),
    Size: sizeText(size),
    State: c.status,
    Status: statusText(c, now),
  };
}

function statsRows(stats: readonly ContainerStats[]): string {
  return table(
    ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'PIDS'],
    stats.map((s) => [
      s.containerId.slice(0, 12),
      s.name,
      `${s.cpuPercent.toFixed(2)}%`,
      `${binarySize(s.memoryBytes)} / ${binarySize(s.memoryLimitBytes)}`,
      `${(s.memoryLimitBytes > 0 ? (s.memoryBytes / s.memoryLimitBytes) * 100 : 0).toFixed(2)}%`,
      String(s.pids),
    ]),
  );
}

/**
 * The networks a container is attached to, as Docker names them: `none` for `--network none`.
 * The default here has no interface but loopback and there is no bridge to name (Docker's
 * default lists `bridge`, with an address): none is listed. Its way out to package archives, where
 * it has one, is a proxy on its loopback, not a network.
 */
function networksOf(c: ContainerInfo): string[] {
  return c.config.network === 'none' ? ['none'] : [];
}

/**
 * `docker inspect`'s shape for a container, its keys in Docker's order, with Layercake's own
 * facts under `Layercake`. `image` is its image's run config, for what Docker shows of it.
 */
function dockerContainerView(c: ContainerInfo, image: RunConfig | null): object {
  return {
    Id: c.id,
    Created: c.created,
    Path: c.command[0],
    Args: c.command.slice(1),
    State: {
      Status: c.status,
      Running: c.status === 'running' || c.status === 'paused',
      Paused: c.status === 'paused',
      Restarting: false,
      OOMKilled: c.oomKilled,
      Dead: false,
      Pid: c.pid,
      ExitCode: c.exitCode,
      Error: c.error ?? '',
      StartedAt: c.startedAt ?? '0001-01-01T00:00:00Z',
      FinishedAt: c.finishedAt ?? '0001-01-01T00:00:00Z',
    },
    Image: c.imageId,
    Name: `/${c.name}`,
    RestartCount: 0,
    Platform: 'linux',
    ExecIDs: null,
    HostConfig: {
      // What was asked for, as Docker keeps it: `default` when no --network was given.
      NetworkMode: c.config.network,
      AutoRemove: c.config.autoRemove,
      Memory: c.limits.memoryBytes,
      NanoCpus: Math.round(c.cpus * 1e9),
      MemorySwap: c.limits.memoryBytes,
      PidsLimit: c.limits.pidsMax,
    },
    GraphDriver: { Name: 'overlay', Data: { UpperDir: c.paths.upper, WorkDir: c.paths.work, MergedDir: c.paths.rootfs } },
    Mounts: [],
    // Docker's struct, in Go's order (images.ts dockerRunConfig); Attach* are left out: the record does not say.
    Config: omitEmpty(
      {
        Hostname: c.config.hostname,
        Domainname: '',
        User: c.config.user,
        ExposedPorts: image?.ExposedPorts ?? nilMap(),
        Tty: c.config.tty,
        OpenStdin: c.config.openStdin,
        StdinOnce: false,
        // Docker's daemon adds HOSTNAME to the process, not to the config inspect shows (records made before run-config.ts said so hold it).
        Env: c.config.env.filter((e) => e !== `HOSTNAME=${c.config.hostname}`),
        Cmd: c.config.cmd ?? nilSlice(),
        Healthcheck: image?.Healthcheck ?? null,
        ArgsEscaped: image?.ArgsEscaped ?? false,
        Image: c.image,
        Volumes: image?.Volumes ?? nilMap(),
        // Docker's "": no -w and none in the image (the process still starts in /).
        WorkingDir: c.config.workingDir === '/' && !image?.WorkingDir ? '' : c.config.workingDir,
        Entrypoint: c.config.entrypoint ?? nilSlice(),
        NetworkDisabled: false,
        MacAddress: '',
        OnBuild: nilSlice(),
        Labels: image?.Labels ?? {},
        StopSignal: image?.StopSignal ? c.config.stopSignal : '',
        StopTimeout: null,
        Shell: image?.Shell ?? nilSlice(),
      },
      CONFIG_OMIT_EMPTY,
    ),
    // No address either way (loopback only), so `{{.NetworkSettings.IPAddress}}` is "".
    NetworkSettings: {
      Bridge: '',
      Ports: {},
      Gateway: '',
      IPAddress: '',
      IPPrefixLen: 0,
      MacAddress: '',
      Networks: Object.fromEntries(networksOf(c).map((name) => [name, { Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '' }])),
    },
    Layercake: {
      Session: c.session,
      TimedOut: c.timedOut,
      Signal: c.signal ?? null,
      Starts: c.starts,
      LastActivityAt: c.lastActivityAt,
      IdleTimeoutMs: c.limits.idleTimeoutMs,
      TimeLimitMs: c.limits.timeLimitMs ?? null,
      StopGraceMs: c.limits.stopGraceMs,
      WritableLayerBytes: c.limits.writableLayerBytes,
      WritableLayerEnforced: c.diskQuota,
    },
  };
}

export function registerManage(program: Program): void {
  const { t } = program;
  program
    .command('ps')
    .description(t('ps'))
    .option('-a, --all', t('ps.all'))
    .option('-q, --quiet', t('ps.quiet'))
    .option('--no-trunc', t('ps.noTrunc'))
    .option('--format <template>', t('ps.format'))
    .option('-s, --size', t('ps.size'))
    .option('-f, --filter <filter>', t('ps.filter'), filterOption, [])
    .option('-n, --last <n>', t('ps.last'))
    .option('-l, --latest', t('ps.latest'))
    .action(
      program.verb(async (ctx: CliContext, f: { all?: boolean; quiet?: boolean; trunc: boolean; format?: string; size?: boolean; filter: string[]; last?: string; latest?: boolean }) => {
        const last = f.latest ? 1 : f.last !== undefined ? parseNonNegativeInt('--last', f.last) : 0;
        const { containers, store, images } = await ctx.engine();
        const matches = await psFilter(f.filter, images);
        // As Docker's: a status filter, -n and -l look at every container, not only running ones.
        const all = f.all === true || last > 0 || f.filter.some((entry) => entry.toLowerCase().startsWith('status='));
        let list = (await containers.list({ all })).filter(matches);
        if (last > 0) list = list.sort((a, b) => b.created.localeCompare(a.created)).slice(0, last);
        if (f.quiet) {
          for (const c of list) writeOut(`${f.trunc ? c.shortId : c.id}\n`);
          return 0;
        }
        const now = Date.now();
        const measure = f.size === true || formatReadsSize(f.format);
        // Measured only when asked for, as Docker's: it walks every writable layer.
        const sizes = measure
          ? await Promise.all(list.map(async (c) => ({ writableBytes: await treeBytes(c.paths.upper), imageBytes: (await store.inspect(c.imageId).catch(() => null))?.size ?? 0 })))
          : list.map(() => null);
        const format = f.size === true && (f.format === undefined || f.format === '' || f.format === 'table') ? `${PS_FORMAT.defaultFormat}\t{{.Size}}` : f.format;
        writeOut(formatList(format, list.map((c, i) => psRow(c, f.trunc, now, sizes[i]!)), PS_FORMAT));
        return 0;
      }),
    );

  program
    .command('stop')
    .description(t('stop'))
    .option('-t, --time <seconds>', t('stop.time'))
    .argument('<container...>')
    .action(
      program.verb(async (ctx: CliContext, refs: string[], f: { time?: string }) => {
        const { containers } = await ctx.engine();
        const graceMs = f.time !== undefined ? parseNonNegativeInt('--time', f.time) * 1000 : undefined;
        return each(ctx, refs, async (ref) => {
          await containers.stop(ref, graceMs !== undefined ? { graceMs } : {});
          writeOut(`${ref}\n`);
        });
      }),
    );

  program
    .command('kill')
    .description(t('kill'))
    .option('-s, --signal <signal>', t('kill.signal'), 'KILL')
    .argument('<container...>')
    .action(
      program.verb(async (ctx: CliContext, refs: string[], f: { signal: string }) => {
        const { containers } = await ctx.engine();
        return each(ctx, refs, async (ref) => {
          await containers.kill(ref, f.signal);
          writeOut(`${ref}\n`);
        });
      }),
    );

  program
    .command('rm')
    .description(t('rm'))
    .option('-f, --force', t('rm.force'))
    .argument('<container...>')
    .action(
      program.verb(async (ctx: CliContext, refs: string[], f: { force?: boolean }) => {
        const { containers } = await ctx.engine();
        return each(ctx, refs, async (ref) => {
          await containers.remove(ref, { force: f.force ?? false });
          writeOut(`${ref}\n`);
        });
      }),
    );

  for (const verb of ['pause', 'unpause'] as const) {
    program
      .command(verb)
      .description(t(verb))
      .argument('<container...>')
      .action(
        program.verb(async (ctx: CliContext, refs: string[]) => {
          const { containers } = await ctx.engine();
          return each(ctx, refs, async (ref) => {
            await (verb === 'pause' ? containers.pause(ref) : containers.unpause(ref));
            writeOut(`${ref}\n`);
          });
        }),
      );
  }

  program
    .command('wait')
    .description(t('wait'))
    .argument('<container...>')
    .action(
      program.verb(async (ctx: CliContext, refs: string[]) => {
        const { containers } = await ctx.engine();
        return each(ctx, refs, async (ref) => {
          writeOut(`${(await containers.wait(ref)).exitCode}\n`);
        });
      }),
    );

  program
    .command('logs')
    .description(t('logs'))
    .option('-f, --follow', t('logs.follow'))
    .option('-n, --tail <lines>', t('logs.tail'), 'all')
    .argument('<container>')
    .action(
      program.verb(async (ctx: CliContext, ref: string, f: { follow?: boolean; tail: string }) => {
        const { containers } = await ctx.engine();
        const tail = f.tail === 'all' ? undefined : parseNonNegativeInt('--tail', f.tail);
        const abort = new AbortController();
        const stop = (): void => abort.abort();
        process.once('SIGINT', stop);
        try {
          // Docker's streams: `logs C 2>/dev/null` hides what the container wrote to stderr.
          for await (const chunk of await containers.logs(ref, { tail, follow: f.follow ?? false, signal: abort.signal })) {
            const out = chunk.stream === 'stderr' ? process.stderr : process.stdout;
            if (!out.write(chunk.data)) await once(out, 'drain');
          }
        } finally {
          process.off('SIGINT', stop);
        }
        return 0;
      }),
    );

  program
    .command('diff')
    .description(t('diff'))
    .argument('<container>')
    .action(
      program.verb(async (ctx: CliContext, ref: string) => {
        const { containers } = await ctx.engine();
        for (const change of await containers.diff(ref)) writeOut(`${change.kind} ${printable(change.path)}\n`);
        return 0;
      }),
    );

  program
    .command('commit')
    .description(t('commit'))
    .option('-m, --message <text>', t('commit.message'))
    .option('-a, --author <name>', t('commit.author'))
    .option('-p, --pause', t('commit.pause'), true)
    .option('--no-pause', t('commit.noPause'))
    .argument('<container>')
    .argument('[repository[:tag]]')
    .action(
      program.verb(async (ctx: CliContext, ref: string, name: string | undefined, f: { message?: string; author?: string; pause: boolean }) => {
        const { containers } = await ctx.engine();
        const { imageId } = await containers.commit(ref, { reference: name, message: f.message, author: f.author, pause: f.pause });
        writeOut(`${imageId}\n`);
        return 0;
      }),
    );

  program
    .command('stats')
    .description(t('stats'))
    .option('--no-stream', t('stats.noStream'))
    .option('-a, --all', t('stats.all'))
    .argument('[container...]')
    .action(
      program.verb(async (ctx: CliContext, refs: string[], f: { stream: boolean; all?: boolean }) => {
        const { containers } = await ctx.engine();
        const abort = new AbortController();
        const stop = (): void => abort.abort();
        process.once('SIGINT', stop);
        try {
          for (;;) {
            const targets = refs.length > 0 ? refs : (await containers.list({ all: f.all ?? false })).map((c) => c.id);
            const stats = await Promise.all(targets.map((ref) => containers.stats(ref, { intervalMs: 1000, signal: abort.signal })));
            if (abort.signal.aborted) return 0;
            if (f.stream && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
            process.stdout.write(statsRows(stats));
            if (!f.stream) return 0;
            await sleep(0);
          }
        } catch (err) {
          if (abort.signal.aborted) return 0;
          throw err;
        } finally {
          process.off('SIGINT', stop);
        }
      }),
    );

  program
    .command('inspect')
    .description(t('inspect'))
    .option('-f, --format <template>', t('inspect.format'))
    .argument('<name...>')
    .action(
      program.verb(async (ctx: CliContext, refs: string[], f: { format?: string }) => {
        // Docker reads the template before any object, and a template it cannot read exits 64.
        let template;
        try {
          template = f.format === undefined ? undefined : parseFormat(f.format, 'inspect');
        } catch (err) {
          process.stderr.write(`${describeError(err, ctx.locale, ctx.log)}\n`);
          return 64;
        }
        const { containers, store, images } = await ctx.engine();
        const out: object[] = [];
        const status = await each(ctx, refs, async (ref) => {
          try {
            const c = await containers.inspect(ref);
            out.push(dockerContainerView(c, (await store.inspect(c.imageId).catch(() => null))?.config.config ?? null));
            return;
          } catch (err) {
            if (!(err instanceof LearnerError && err.key === 'container.notFound')) throw err;
          }
          try {
            out.push(await dockerImageView(store, images, await images.resolve(ref)));
          } catch {
            // Docker's words for inspect, which looks for a container, then an image.
            throw new LearnerError('inspect.notFound', { ref });
          }
        });
        if (template !== undefined) {
          // One line per object, as Docker's; an object the template cannot read ends it with 1.
          for (const view of out) {
            let line: string;
            try {
              line = runFormat(template, view as Json, 'inspect');
            } catch (err) {
              writeOut('\n'); // Docker's, too: the object's line, empty
              throw err;
            }
            writeOut(printable(`${line}\n`, { keepNewlines: true }));
          }
          return status;
        }
        // JSON escapes C0 controls but not C1 (U+009B is a CSI to many terminals). Docker's leaves <, > and & as they are.
        writeOut(`${printable(JSON.stringify(out, goJsonReplacer, 4), { keepNewlines: true })}\n`);
        return status;
      }),
    );
}
