// COPY and ADD: files from the build context (after .dockerignore) or from another stage or
// image (`--from`), written into the step's upper dir from the host (see upper-writer.ts).
// Docker's rules: a directory source copies its contents; a file goes into the destination when
// that is a directory (or ends in `/`), else becomes it; several sources need a directory
// destination ending in `/`; everything is owned by root unless --chown says otherwise; ADD
// unpacks local tar archives and cannot fetch URLs here (no network).
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { readImageFile } from '../../image-store/image-files.js';
import { formatBytes } from '../format.js';
import { fileDigest } from '../context.js';
import { layerDirsOf, runConfigOf } from '../image-config.js';
import { LAYER_SUFFIX } from '../created-by.js';
import { checkFlags, chompHeredoc, writtenText, heredocMarkers, type Instruction } from '../parse.js';
import { atLine, learnerError, StepVars, type InstructionHandler, type StepInput } from '../step.js';
import { splitWhitespace } from '../substitution.js';
import {
  expandGlob,
  hasGlob,
  LayeredTree,
  NotADirectoryError,
  resolveInTree,
  SymlinkLoopError,
  type SourceTree,
  type TreeEntry,
} from '../../image-store/layered-tree.js';
import { UpperWriter, type Attrs } from '../../image-store/upper-writer.js';

/** The largest id a container can represent (its mapped range is 65536 ids). */
const MAX_ID = 65535;

interface Source {
  /** Symlink-free path in the source tree. */
  parts: string[];
  entry: TreeEntry;
  /** The name a file gets inside a destination directory: the source's own last component. */
  name: string;
}

const URL_PATTERN = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

function wordsOf(instruction: Instruction): string[] {
  if (instruction.json !== null) return instruction.json;
  return splitWhitespace(instruction.args);
}

/** A here-document source (`COPY <<EOF /dest`): a file named for its delimiter, with its body. */
interface InlineFile {
  name: string;
  data: string;
}

/** Splits the words into paths and here-documents, bodies substituted where the delimiter was unquoted. */
function inlineFiles(words: string[], instruction: Instruction, escape: string, vars: StepVars): { paths: string[]; inline: InlineFile[] } {
  if (instruction.heredocs.length === 0) return { paths: words, inline: [] };
  const paths: string[] = [];
  const inline: InlineFile[] = [];
  for (const word of words) {
    const marker = heredocMarkers(word, escape)[0];
    const doc = marker === undefined ? undefined : instruction.heredocs.find((d) => d.name === marker.name);
    if (marker === undefined || doc === undefined) {
      paths.push(word);
      continue;
    }
    const body = marker.chomp ? chompHeredoc(doc.content) : doc.content;
    inline.push({ name: marker.name, data: marker.expand ? vars.expandHeredoc(body) : body });
  }
  return { paths, inline };
}

/** Finds every source a COPY/ADD names, following wildcards and symlinks inside the tree. */
async function findSources(tree: SourceTree, patterns: string[], fromContext: boolean, instruction: Instruction): Promise<Source[]> {
  const sources: Source[] = [];
  for (const pattern of patterns) {
    const normal = posix.normalize(pattern);
    if (fromContext && (normal === '..' || normal.startsWith('../'))) {
      throw learnerError('build.copyOutsideContext', instruction.argsWhere, { source: pattern });
    }
    const candidates = hasGlob(pattern) ? await expandGlob(tree, pattern) : [pattern.split('/').filter((p) => p !== '' && p !== '.')];
    const before = sources.length;
    for (const candidate of candidates) {
      const resolved = await resolveInTree(tree, `/${candidate.join('/')}`).catch((err: unknown) => {
        if (err instanceof NotADirectoryError || err instanceof SymlinkLoopError) return null;
        throw err;
      });
      if (resolved?.entry == null || (resolved.entry.kind !== 'file' && resolved.entry.kind !== 'dir')) continue;
      sources.push({ parts: resolved.parts, entry: resolved.entry, name: candidate[candidate.length - 1] ?? '' });
    }
    if (sources.length === before) throw learnerError('build.copySourceMissing', instruction.argsWhere, { source: pattern });
  }
  return sources;
}

/**
 * What the sources are, as the cache sees them: each entry's path, type, permission bits and
 * content (or link target), after .dockerignore. Times and owners are not part of it (Docker
 * does not count them either).
 */
async function digestSources(tree: SourceTree, sources: Source[], signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  const visit = async (parts: string[], entry: TreeEntry, rel: string): Promise<void> => {
    signal?.throwIfAborted();
    if (entry.kind === 'file') hash.update(`${rel}\0f\0${entry.mode.toString(8)}\0${await fileDigest(entry)}\n`);
    else if (entry.kind === 'symlink') hash.update(`${rel}\0l\0${entry.target ?? ''}\n`);
    else if (entry.kind === 'dir') {
      hash.update(`${rel}\0d\0${entry.mode.toString(8)}\n`);
      for (const name of await tree.children(parts)) {
        const child = await tree.lookup([...parts, name]);
        if (child !== null) await visit([...parts, name], child, `${rel}/${name}`);
      }
    }
  };
  for (const source of sources) await visit(source.parts, source.entry, source.name);
  return hash.digest('hex');
}

/** --chown=user[:group], names looked up in the destination image's /etc/passwd and /etc/group. */
async function resolveChown(spec: string, layers: readonly string[], instruction: Instruction): Promise<{ uid: number; gid: number }> {
  const [userPart = '', groupPart] = spec.split(':', 2);
  const records = async (file: string): Promise<string[][]> =>
    ((await readImageFile(layers, file))?.toString() ?? '')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => line.split(':'));
  const idOf = async (part: string, file: string, key: 'container.unknownUser' | 'container.unknownGroup'): Promise<number> => {
    if (/^\d+$/.test(part)) return Number(part);
    const record = (await records(file)).find((fields) => fields[0] === part);
    if (record === undefined || !/^\d+$/.test(record[2] ?? '')) {
      throw learnerError(key, instruction.where, key === 'container.unknownUser' ? { user: part } : { group: part });
    }
    return Number(record[2]);
  };
  if (userPart === '') throw learnerError('build.invalidFlagValue', instruction.where, { flag: 'chown', value: spec });
  const uid = await idOf(userPart, '/etc/passwd', 'container.unknownUser');
  // Docker: "a username without groupname or a UID without GID will use the same numeric UID as the GID".
  const gid = groupPart === undefined || groupPart === '' ? uid : await idOf(groupPart, '/etc/group', 'container.unknownGroup');
  if (uid > MAX_ID || gid > MAX_ID) throw learnerError('container.userOutOfRange', instruction.where, { user: spec, max: MAX_ID });
  return { uid, gid };
}

function copyLike(kind: 'COPY' | 'ADD'): InstructionHandler {
  return async (input: StepInput) => {
    const { instruction, parent, stage, build } = input;
    // --link: the same files in the same layer (see the README for what BuildKit does besides).
    const flags = checkFlags(instruction, kind === 'COPY' ? ['from', 'chown', 'chmod', 'link'] : ['chown', 'chmod', 'link']);
    const config = structuredClone(runConfigOf(parent));
    const vars = new StepVars(config, stage.args, build.escape, instruction.argsWhere);
    const words = wordsOf(instruction);
    if (words.length < 2) throw learnerError('build.copyNeedsDestination', instruction.where, { instruction: kind });
    const destWord = words.pop()!;
    if (instruction.heredocs.length > 0 && heredocMarkers(destWord, build.escape).length > 0) {
      throw learnerError('build.copyNeedsDestination', instruction.where, { instruction: kind });
    }
    const { paths, inline } = inlineFiles(words, instruction, build.escape, vars);
    const expanded = paths.map((word) => vars.expand(word));
    const dest = vars.expand(destWord);
    if (kind === 'ADD') {
      const url = expanded.find((source) => URL_PATTERN.test(source) || source.startsWith('git@'));
      if (url !== undefined) throw learnerError('build.addUrlUnsupported', instruction.argsWhere, { url });
    }
    const flagValue = (name: string): string | null => {
      const flag = flags.get(name);
      if (flag === undefined) return null;
      const value = vars.expand(flag.value ?? '');
      if (value === '') throw learnerError('build.invalidFlagValue', flag.where, { flag: name, value });
      return value;
    };
    const chown = flagValue('chown');
    const chmodText = flagValue('chmod');
    if (chmodText !== null && !/^[0-7]{3,4}$/.test(chmodText)) {
      throw learnerError('build.invalidFlagValue', flags.get('chmod')!.where, { flag: 'chmod', value: chmodText });
    }
    const chmod = chmodText === null ? null : parseInt(chmodText, 8);
    const fromName = flagValue('from');

    const from = fromName === null ? null : await build.copySource(fromName, flags.get('from')!.where);
    const tree: SourceTree =
      from === null ? build.context : new LayeredTree(null, layerDirsOf(from.state, (id) => build.store.layerDir(id)));
    const sources = expanded.length === 0 ? [] : await findSources(tree, expanded, from === null, instruction);

    const workdir = config.WorkingDir || '/';
    const destPath = dest.startsWith('/') ? dest : posix.join(workdir, dest);
    // `dir/`, `.` and `dir/.` name a directory whether it exists or not.
    const destNamesDir = dest.endsWith('/') || dest === '.' || dest.endsWith('/.');
    if (sources.length + inline.length > 1 && !destNamesDir) throw learnerError('build.copyDestNotDir', instruction.argsWhere, { instruction: kind });

    const pathFiles = from === null ? await digestSources(tree, sources, build.signal) : createHash('sha256').update(JSON.stringify([from.id, sources.map((s) => s.parts)])).digest('hex');
    // Here-document bodies are files too: their text is part of the key.
    const files = inline.length === 0 ? pathFiles : createHash('sha256').update(JSON.stringify([pathFiles, inline])).digest('hex');
    const layers = layerDirsOf(parent, (id) => build.store.layerDir(id));

    return {
      // BuildKit's words: the sources and destination as substituted, no flags; here-documents
      // after the paths, as `<<NAME`.
      createdBy: `${kind} ${[...expanded, ...inline.map((file) => `<<${file.name}`), dest].join(' ')}${LAYER_SUFFIX}`,
      cache: {
        instruction: JSON.stringify({ kind, from: from?.id ?? null, sources: expanded, dest: destPath, chown, chmod }),
        files,
        args: vars.usedArgs,
        source: writtenText(instruction),
      },
      runConfig: config,
      layer: async (stepDir, io) => {
        const upper = join(stepDir, 'upper');
        await mkdir(upper);
        const owner = chown === null ? { uid: 0, gid: 0 } : await resolveChown(chown, layers, instruction);
        const writer = new UpperWriter(upper, layers);
        const target = await writer.resolve(destPath).catch((err: unknown) => {
          if (err instanceof NotADirectoryError || err instanceof SymlinkLoopError) {
            throw learnerError('build.notADirectory', instruction.argsWhere, { path: err instanceof NotADirectoryError ? err.path : destPath });
          }
          throw err;
        });
        if (target.entry !== null && target.entry.kind !== 'dir' && destNamesDir) {
          throw learnerError('build.notADirectory', instruction.argsWhere, { path: destPath });
        }
        const intoDir = destNamesDir || target.entry?.kind === 'dir';
        const created: Attrs = { mode: 0o755, ...owner };
        const attrsOf = (entry: TreeEntry): Attrs => ({ mode: chmod ?? entry.mode, ...owner, mtimeMs: entry.mtimeMs });
        try {
          for (const source of sources) {
            io.signal?.throwIfAborted();
            if (source.entry.kind === 'dir') {
              await writer.ensureDir(target.parts, created);
              await copyTree(tree, source.parts, writer, target.parts, attrsOf, io.signal);
              continue;
            }
            if (kind === 'ADD') {
              // Loaded by an ADD that runs: tar-stream and zlib are no part of a cached rebuild.
              const { ArchiveTooLargeError, detectArchive, extractArchive } = await import('../archive.js');
              const compression = await detectArchive(source.entry.hostPath);
              if (compression !== null) {
                await writer.ensureDir(target.parts, created);
                await extractArchive(source.entry.hostPath, compression, writer, target.parts, {
                  ...(chown !== null ? { chown: owner } : {}),
                  signal: io.signal,
                  maxBytes: build.writableLayerBytes,
                }).catch((err: unknown) => {
                  if (err instanceof ArchiveTooLargeError) {
                    throw learnerError('build.stepDiskLimit', instruction.where, { limit: formatBytes(err.maxBytes) });
                  }
                  throw err;
                });
                continue;
              }
            }
            const file = intoDir ? [...target.parts, source.name] : target.parts;
            await writer.ensureDir(file.slice(0, -1), created);
            await writer.writeFile(file, source.entry.hostPath, attrsOf(source.entry));
          }
          for (const doc of inline) {
            // BuildKit makes the file 0644 (--chmod aside), owned as --chown says, created now.
            const file = intoDir ? [...target.parts, doc.name] : target.parts;
            await writer.ensureDir(file.slice(0, -1), created);
            await writer.writeFile(file, Readable.from([Buffer.from(doc.data)]), { mode: chmod ?? 0o644, ...owner });
          }
        } catch (err) {
          throw atLine(err, instruction.where);
        }
        return upper;
      },
    };
  };
}

/** Copies a directory's contents; symlinks inside are copied as links, never followed. */
async function copyTree(
  tree: SourceTree,
  from: string[],
  writer: UpperWriter,
  to: string[],
  attrsOf: (entry: TreeEntry) => Attrs,
  signal?: AbortSignal,
): Promise<void> {
  for (const name of await tree.children(from)) {
    signal?.throwIfAborted();
    const entry = await tree.lookup([...from, name]);
    if (entry === null) continue;
    const target = [...to, name];
    const attrs = attrsOf(entry);
    if (entry.kind === 'dir') {
      await writer.writeDir(target, { ...attrs, mtimeMs: undefined });
      await copyTree(tree, [...from, name], writer, target, attrsOf, signal);
      await writer.setTime(target, entry.mtimeMs);
    } else if (entry.kind === 'file') {
      await writer.writeFile(target, entry.hostPath, attrs);
    } else if (entry.kind === 'symlink') {
      await writer.writeSymlink(target, entry.target ?? '', attrs);
    }
  }
}

export const copy = copyLike('COPY');
export const add = copyLike('ADD');
