// `build`: the job carries the Dockerfile and its context files; they are written into a scratch
// directory of the image store (removed afterwards, or by crash clean-up if this process dies)
// and handed to the builder, which emits every step, cache decision and layer as events.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LearnerError } from '../../../../protocol/errors.js';
import { formatBytes } from '../../builder/format.js';
import { buildLimits } from '../../limits.js';
import { recordStepLines } from '../dockerfile-lines.js';
import type { JobHandler, JobInput } from './types.js';

async function writeContext(dir: string, files: JobInput<'build'>['context']): Promise<void> {
  const bodies = files.map((f) => Buffer.from(f.content, f.encoding === 'base64' ? 'base64' : 'utf8'));
  const size = bodies.reduce((n, b) => n + b.length, 0);
  if (size > buildLimits.contextBytes) throw new LearnerError('build.contextTooLarge', { size: formatBytes(size), limit: formatBytes(buildLimits.contextBytes) });
  for (const [i, file] of files.entries()) {
    // The schema already refused absolute paths and '..'; the files are all we create here, so
    // no symlink can redirect a write.
    const path = join(dir, file.path);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bodies[i]!, { flag: 'wx' });
    await chmod(path, file.mode);
  }
}

export const handleBuild: JobHandler<'build'> = async (input, { engine, events, signal }) => {
  const contextDir = await engine.store.scratchDir('build-context');
  try {
    await writeContext(contextDir, input.context);
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
