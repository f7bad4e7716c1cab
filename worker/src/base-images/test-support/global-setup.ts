// vitest globalSetup: the run's base-image cache (shared.ts), an image store of its own in a temp
// dir, removed after the run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    baseImageCache: string;
  }
}

export function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'lc-base-images-'));
  project.provide('baseImageCache', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
