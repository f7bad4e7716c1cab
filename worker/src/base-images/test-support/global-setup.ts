// vitest globalSetup: the run's base-image cache (shared.ts), an image store of its own in a temp
// dir named for this run's process, removed after the run; one left by a run that was killed
// (its process gone) is removed at the next start.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { processAlive } from '../../image-store/paths.js';

declare module 'vitest' {
  export interface ProvidedContext {
    baseImageCache: string;
  }
}

const PREFIX = 'lc-base-images-';

export function setup(project: TestProject): () => void {
  for (const name of readdirSync(tmpdir())) {
    const owner = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (owner && !processAlive(Number(owner[1]))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
  project.provide('baseImageCache', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
