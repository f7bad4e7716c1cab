// images, history, tag, rmi, save, load, build: the session's images.
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Option } from 'commander';
import { LearnerError } from '../../../../protocol/errors.js';
import type { EngineEvent } from '../../../../protocol/events.js';
import type { EventSink } from '../../events.js';
import { baseImageFor, ensureBaseImage } from '../../base-images/index.js';
import type { Digest, ImageStore, RunConfig } from '../../image-store/index.js';
import type { SessionImages } from '../../sessions/images.js';
import type { CliContext } from '../context.js';
import { formatList, type ListFormat } from '../docker-format.js';
import { nilMap, nilSlice, omitEmpty } from '../go-template.js';
import { ago, ellipsis, goTime, humanSize, rfc3339, shortImageId } from '../format.js';
import { collect, dockerBoolean } from '../options.js';
import { printable } from '../../../../protocol/printable.js';
import { listImages, loadImages, removeImage, saveImages } from '../../sessions/image-ops.js';
import { writeOut } from '../stdout.js';
import { each, type Program } from './shared.js';

/** Go's omitempty fields of Docker's container config: out of the JSON when empty, there for -f. */
export const CONFIG_OMIT_EMPTY = ['ExposedPorts', 'Healthcheck', 'ArgsEscaped', 'NetworkDisabled', 'MacAddress', 'StopSignal', 'StopTimeout', 'Shell'];

/**
 * An image's run config as Docker's inspect prints it: its container-config struct, every field
 * in Go's order, unset slices and maps nil (`[]`/`map[]` to -f, null in JSON).
 */
function dockerRunConfig(c: RunConfig): object {
  return omitEmpty(
    {
      Hostname: '',
      Domainname: '',
      User: c.User ?? '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ExposedPorts: c.ExposedPorts ?? nilMap(),
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: c.Env ?? nilSlice(),
      Cmd: c.Cmd ?? nilSlice(),
      Healthcheck: c.Healthcheck ?? null,
      ArgsEscaped: c.ArgsEscaped ?? false,
      Image: '',
      Volumes: c.Volumes ?? nilMap(),
      WorkingDir: c.WorkingDir ?? '',
      Entrypoint: c.Entrypoint ?? nilSlice(),
      NetworkDisabled: false,
      MacAddress: '',
      OnBuild: c.OnBuild ?? nilSlice(),
      Labels: c.Labels ?? nilMap(),
      StopSignal: c.StopSignal ?? '',
      StopTimeout: null,
      Shell: c.Shell ?? nilSlice(),
    },
    CONFIG_OMIT_EMPTY,
  );
}

/** `docker inspect`'s shape for an image, in the session's names, its keys in Docker's order. */
export async function dockerImageView(store: ImageStore, images: SessionImages, id: Digest): Promise<object> {
  const image = await store.inspect(id);
  const parent = (await parentChain(store, images, id))[1] ?? '';
  return {
    Id: image.id,
    RepoTags: image.tags.map((t) => images.unqualify(t) ?? t).filter((t) => !t.startsWith('local.layercake/')),
    RepoDigests: [],
    Parent: parent,
    // Docker's: the config's comment, else the last step's (a commit's -m, BuildKit's buildkit.dockerfile.v0).
    Comment: image.config.history?.at(-1)?.comment ?? '',
    Created: image.created,
    Container: '',
    DockerVersion: '',
    Author: image.config.author ?? '',
    Config: dockerRunConfig(image.config.config ?? {}),
    Architecture: image.config.architecture,
    Os: image.config.os,
    Size: image.size,
    VirtualSize: image.size,
    RootFS: { Type: 'layers', Layers: image.config.rootfs.diff_ids },
  };
}

/**
 * `id`, then the image it was committed from, and so on, as Docker's history walks parent links;
 * it stops at an image the session may not see (another session's stays <missing>) or that is gone.
 */
async function parentChain(store: ImageStore, images: SessionImages, id: Digest): Promise<Digest[]> {
  const visible = new Set([...(await images.owned()), ...(await images.baseIds())]);
  const chain = [id];
  for (let parent = await store.parentOf(id); parent !== null && visible.has(parent) && !chain.includes(parent); parent = await store.parentOf(parent)) {
    chain.push(parent);
  }
  return chain;
}

function parseBuildArgs(entries: readonly string[]): Record<string, string> {
  const args: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq > 0) args[entry.slice(0, eq)] = entry.slice(eq + 1);
    else if (process.env[entry] !== undefined) args[entry] = process.env[entry]!;
  }
  return args;
}

/** What the classic builder prints for each event. */
function buildLine(event: EngineEvent, quiet: boolean): { out?: string; err?: string } {
  if (quiet) return {};
  switch (event.type) {
    case 'build.step':
      return { out: `Step ${event.step}/${event.total} : ${printable(event.instruction)}\n` };
    case 'build.cache':
      return event.cacheHit ? { out: ' ---> Using cache\n' } : {};
    case 'build.log':
      return event.stream === 'stderr' ? { err: event.text } : { out: event.text };
    case 'layer.committed':
      return { out: ` ---> layer ${event.diffId.slice(7, 19)} (${humanSize(event.sizeBytes)}: +${event.added} ~${event.changed} -${event.deleted})\n` };
    default:
      return {};
  }
}

const IMAGES_FORMAT: ListFormat = {
  headers: {
    ID: 'IMAGE ID', Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Size: 'SIZE',
    Containers: 'CONTAINERS', VirtualSize: 'VIRTUAL SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE',
  },
  defaultFormat: 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}',
};

const HISTORY_FORMAT: ListFormat = {
  headers: { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' },
  defaultFormat: 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
};

/** Docker's table for `history -H=false`: the date column is CREATED AT. */
const RAW_HISTORY_FORMAT: ListFormat = { ...HISTORY_FORMAT, defaultFormat: 'table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}' };

export function registerImages(program: Program): void {
  const { t } = program;
  program
    .command('images')
    .description(t('images'))
    .option('-q, --quiet', t('images.quiet'))
    // Accepted, and the list is the same: Docker's -a adds the classic builder's step images,
    // which BuildKit never makes; this engine keeps its build steps out of sight, as BuildKit.
    .option('-a, --all', t('images.all'))
    .option('--no-trunc', t('images.noTrunc'))
    .option('--format <template>', t('images.format'))
    .action(
      program.verb(async (ctx: CliContext, f: { quiet?: boolean; trunc: boolean; format?: string }) => {
        const { store, images } = await ctx.imageStore();
        const rows = await listImages(store, images);
        const id = (d: string): string => (f.trunc ? shortImageId(d) : d);
        if (f.quiet) {
          for (const d of new Set(rows.map((r) => id(r.id)))) writeOut(`${d}\n`);
          return 0;
        }
        const now = Date.now();
        // Docker's fields for --format, in the order `{{json .}}` prints them.
        const views = rows.map((r) => ({
          Containers: 'N/A',
          CreatedAt: r.created ? goTime(r.created) : '',
          CreatedSince: ago(r.created, now),
          Digest: '<none>',
          ID: id(r.id),
          Repository: r.repository,
          SharedSize: 'N/A',
          Size: humanSize(r.size),
          Tag: r.tag,
          UniqueSize: 'N/A',
          VirtualSize: humanSize(r.size, 4),
        }));
        writeOut(formatList(f.format, views, IMAGES_FORMAT));
        return 0;
      }),
    );

  const history = program
    .command('history')
    .description(t('history'))
    .option('-H, --human', t('history.human'), true)
    // What -H=false and --human=false become (dockerBoolean): Docker has no --no-human to show.
    .addOption(new Option('--no-human', t('history.human')).hideHelp())
    .option('--no-trunc', t('history.noTrunc'))
    .option('-q, --quiet', t('history.quiet'))
    .option('--format <template>', t('history.format'))
    .argument('<image>');
  dockerBoolean(history, 'human', 'H');
  history.action(
    program.verb(async (ctx: CliContext, ref: string, f: { human: boolean; trunc: boolean; quiet?: boolean; format?: string }) => {
      const { store, images } = await ctx.imageStore();
      const top = await images.resolve(ref);
      const rows = await store.history(top);
      const chain = await parentChain(store, images, top);
      // Docker's ids: the image's own on its top row, then down its parent links (commit's),
      // one per row; the rest <missing>. A build records none, as BuildKit's does, so a built
      // image's steps and its FROM image show <missing>, even where they are local images.
      rows.forEach((r, i) => (r.id = chain[i] ?? null));
      const id = (d: Digest | null): string => (d === null ? '<missing>' : f.trunc ? shortImageId(d) : d);
      if (f.quiet) {
        for (const r of rows) writeOut(`${id(r.id)}\n`);
        return 0;
      }
      const now = Date.now();
      const views = rows.map((r) => {
        // Docker shows a tab in created_by as a space, and cuts it to 45 characters.
        const createdBy = r.createdBy.replace(/\t/g, ' ');
        const createdAt = r.created ? rfc3339(r.created) : '';
        return {
          Comment: r.comment,
          CreatedAt: createdAt,
          CreatedBy: f.trunc ? ellipsis(createdBy, 45) : createdBy,
          // -H=false: the date itself and the size in bytes, as Docker's history formatter gives them.
          CreatedSince: f.human ? ago(r.created, now) : createdAt,
          ID: id(r.id),
          Size: f.human ? humanSize(r.size) : String(r.size),
        };
      });
      writeOut(formatList(f.format, views, f.human ? HISTORY_FORMAT : RAW_HISTORY_FORMAT));
      return 0;
    }),
  );

  program
    .command('tag')
    .description(t('tag'))
    .argument('<source>')
    .argument('<target>')
    .action(
      program.verb(async (ctx: CliContext, source: string, target: string) => {
        const { images } = await ctx.engine();
        await images.tag(await images.resolve(source), target);
        return 0;
      }),
    );

  program
    .command('rmi')
    .description(t('rmi'))
    .option('-f, --force', t('rmi.force'))
    .argument('<image...>')
    .action(
      program.verb(async (ctx: CliContext, refs: string[], f: { force?: boolean }) => {
        const { store, images } = await ctx.engine();
        return each(ctx, refs, async (ref) => {
          const { untagged, deleted } = await removeImage(store, images, ref, f.force ?? false);
          for (const line of [...untagged.map((t) => `Untagged: ${t}`), ...deleted.map((d) => `Deleted: ${d}`)]) writeOut(`${printable(line)}\n`);
        });
      }),
    );

  program
    .command('save')
    .description(t('save'))
    .option('-o, --output <file>', t('save.output'))
    .argument('<image...>')
    .action(
      program.verb(async (ctx: CliContext, refs: string[], f: { output?: string }) => {
        if (f.output !== undefined) {
          const { store, images } = await ctx.engine();
          await saveImages(store, images, refs, resolve(f.output));
          return 0;
        }
        // Docker's: without -o the archive goes to stdout (`save busybox | docker load`), never to a terminal.
        if (process.stdout.isTTY) throw new LearnerError('image.saveToTerminal', {});
        const { store, images } = await ctx.engine();
        const dir = await mkdtemp(join(tmpdir(), 'layercake-save-'));
        try {
          const file = join(dir, 'archive.tar');
          await saveImages(store, images, refs, file);
          await pipeline(createReadStream(file), process.stdout, { end: false });
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
        return 0;
      }),
    );

  program
    .command('load')
    .description(t('load'))
    .requiredOption('-i, --input <file>', t('load.input'))
    .action(
      program.verb(async (ctx: CliContext, f: { input: string }) => {
        const { store, images, containers } = await ctx.engine();
        for (const line of await loadImages(store, images, resolve(f.input), containers)) process.stdout.write(`${printable(line)}\n`);
        return 0;
      }),
    );

  program
    .command('build')
    .description(t('build'))
    .option('-t, --tag <name>', t('build.tag'), collect, [])
    .option('-f, --file <path>', t('build.file'))
    .option('--build-arg <KEY=VALUE>', t('build.buildArg'), collect, [])
    .option('--no-cache', t('build.noCache'))
    .option('--target <stage>', t('build.target'))
    .option('-q, --quiet', t('build.quiet'))
    .option('--secret <id=NAME,src=FILE>', t('build.secret'), collect, [])
    .argument('<dir>')
    .action(
      program.verb(
        async (ctx: CliContext, dir: string, f: { tag: string[]; file?: string; buildArg: string[]; cache: boolean; target?: string; quiet?: boolean; secret: string[] }) => {
          const contextDir = resolve(dir);
          // A Dockerfile inside the context is named relative to it; one elsewhere is read here.
          let dockerfile: { dockerfilePath: string } | { dockerfile: string } = { dockerfilePath: 'Dockerfile' };
          if (f.file !== undefined) {
            const path = resolve(f.file);
            const rel = relative(contextDir, path);
            dockerfile = rel.startsWith('..') || isAbsolute(rel) ? { dockerfile: await readFile(path, 'utf8') } : { dockerfilePath: rel };
          }
          // Read before anything starts, as Docker does: a missing file stops the build at once.
          const secrets = f.secret.length > 0 ? await (await import('./build-secrets.js')).readBuildSecrets(f.secret) : {};
          // The builder loads with `build` only.
          const builder = await ctx.builder();
          const request = {
            session: ctx.session,
            contextDir,
            ...dockerfile,
            tags: f.tag,
            buildArgs: parseBuildArgs(f.buildArg),
            noCache: !f.cache,
            secrets,
            ...(f.target !== undefined ? { target: f.target } : {}),
          };
          // This verb's events go to its own output only: stamped as RunEvents stamps them, without
          // the schema check that guards what reaches a browser (the first check builds every event's
          // schema, a cached rebuild's largest zod cost).
          let seq = 0;
          const events: EventSink = {
            emit: (body) => {
              const line = buildLine({ ...body, runId: 'cli', seq: seq++, at: new Date().toISOString() } as EngineEvent, f.quiet ?? false);
              if (line.out) process.stdout.write(line.out);
              if (line.err) process.stderr.write(line.err);
            },
          };
          let result;
          try {
            result = await builder.build(request, events);
          } catch (err) {
            // As `docker build` pulls a missing FROM image: make the base image, then build again.
            const image = err instanceof LearnerError && err.key === 'build.baseImageMissing' ? String(err.facts.image ?? '') : '';
            if (!image || baseImageFor(image) === null) throw err;
            process.stderr.write(`Unable to find image '${image}' locally: preparing it\n`);
            await ensureBaseImage((await ctx.engine()).store, image, { logger: ctx.log });
            result = await builder.build(request, events);
          }
          if (f.quiet) process.stdout.write(`${result.imageId}\n`);
          else {
            process.stdout.write(`Successfully built ${shortImageId(result.imageId)}\n`);
            for (const tag of result.tags) process.stdout.write(`Successfully tagged ${printable(tag)}\n`);
          }
          return 0;
        },
      ),
    );
}
