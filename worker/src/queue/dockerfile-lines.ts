// Which Dockerfile line made each step image of a session's builds, so `history` can lead a
// learner from a layer to the line that made it. An image config has no such field (Docker keeps
// only `created_by`), but the build knows it (step → image), so the build job writes it down:
// one small file per step image under the session's directory, read back by image-op history.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

const entry = z.object({ line: z.number().int().positive() });

function linesDir(dataDir: string, session: string): string {
  return join(dataDir, 'sessions', session, 'dockerfile-lines');
}

/** After a build: each step's image and its line (FROM steps take an image and are skipped). */
export async function recordStepLines(
  dataDir: string,
  session: string,
  steps: readonly { imageId: string | null; line: number; cacheHit: boolean | null }[],
): Promise<void> {
  const dir = linesDir(dataDir, session);
  await mkdir(dir, { recursive: true });
  for (const step of steps) {
    if (step.imageId === null || step.cacheHit === null) continue;
    await writeFile(join(dir, step.imageId.slice('sha256:'.length)), JSON.stringify({ line: step.line }));
  }
}

/** The line that made this step image in one of the session's builds, or null. */
export async function stepLine(dataDir: string, session: string, imageId: string): Promise<number | null> {
  try {
    return entry.parse(JSON.parse(await readFile(join(linesDir(dataDir, session), imageId.slice('sha256:'.length)), 'utf8'))).line;
  } catch {
    return null;
  }
}
