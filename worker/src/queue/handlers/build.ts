// `build`: the job carries the Dockerfile and its context files; they are written into a scratch
// directory of the image store (removed afterwards, or by crash clean-up if this process dies)
// and handed to the builder, which emits every step, cache decision and layer as events.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LearnerError } from '../../../../protocol/errors.js';
import { formatBytes } from '../../builder/format.js';
import { buildLimits } from '../../limits.js';
import { recordStepLines } from '../dockerfile-lines.js';
import type { JobHandler, JobInput } from './types.js';

/** A chunk of the context written before the loop turns again (other jobs' events go out between). */
const CHUNK_FILES = 64;
const CHUNK_BYTES = 1 << 20;

/**
 * Synchronous calls, a chunk at a time: a playground context is a few small files, and each
 * awaited call cost a trip through libuv's thread pool and a wake-up of this process (20–40 ms for
 * the three calls of one file at load 12, all before build.started); between chunks the loop turns,
 * so a large context does not hold back the events of the host's other jobs.
 */
async function writeContext(dir: string, files: JobInput<'build'>['context']): Promise<void> {
  const bodies = files.map((f) => Buffer.from(f.content, f.encoding === 'base64' ? 'base64' : 'utf8'));
  const size = bodies.reduce((n, b) => n + b.length, 0);
  if (size > buildLimits.contextBytes) throw new LearnerError('build.contextTooLarge', { size: formatBytes(size), limit: formatBytes(buildLimits.contextBytes) });
  const made = new Set([dir]);
  let chunkFiles = 0;
  let chunkBytes = 0;
  for (const [i, file] of files.entries()) {
    // The schema already refused absolute paths and '..'; the files are all we create here, so
    // no symlink can redirect a write.
    const path = join(dir, file.path);
    const parent = dirname(path);
    if (!made.has(parent)) {
      mkdirSync(parent, { recursive: true });
      made.add(parent);
    }
    writeFileSync(path, bodies[i]!, { flag: 'wx' });
    chmodSync(path, file.mode);
    chunkBytes += bodies[i]!.length;
    if (++chunkFiles >= CHUNK_FILES || chunkBytes >= CHUNK_BYTES) {
      chunkFiles = chunkBytes = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

export const handleBuild: JobHandler<'build'> = async (input, { engine, events, signal, hops }) => {
  const contextDir = await engine.store.scratchDir('build-context');
  try {
    hops?.mark('scratch');
    await writeContext(contextDir, input.context);
    hops?.mark('context');
    const result = await engine.builder.build(
      {
        session: input.sessionId,
        contextDir,
        dockerfile: input.dockerfile,
        dockerfilePath: input.dockerfilePath,
        tags: input.tags,
        buildArgs: input.buildArgs,
        noCache: input.noCache,
        ...(input.target ? { target: input.target } : {}),
        signal,
      },
      events,
    );
    // So `history` can name the line each layer came from.
    await recordStepLines(engine.dataDir, input.sessionId, result.steps);
    return {
      imageId: result.imageId,
      tags: result.tags,
      durationMs: result.durationMs,
      unusedBuildArgs: result.unusedBuildArgs,
      steps: result.steps.map((s) => ({
        step: s.step,
        stage: s.stage,
        instruction: s.instruction,
        line: s.line,
        cacheHit: s.cacheHit,
        ...(s.reason ? { reason: s.reason } : {}),
        imageId: s.imageId,
        ...(s.layer ? { layer: s.layer } : {}),
      })),
    };
  } finally {
    await engine.store.removeScratchDir(contextDir);
  }
};
