// Writes a step's new files (COPY, ADD, WORKDIR) straight into its upper dir, from the host,
// the way overlayfs itself would have: a directory that exists below is first "copied up"
// (created in the upper with the lower copy's owner, mode and time, so the merged view does not
// change), a file replaces whatever was there, and a path is resolved against the merged view
// of the upper and the parent's layers with symlinks followed only inside the image.
//
// Why not copy inside a sandbox? It would cost a container start per COPY, need a copy tool in
// the image (FROM scratch has none) and a bind of the context; writing from the host is what
// the image store does when it extracts a layer, and the resolution rules below keep it inside
// the upper: every host path is built from components that were just seen to be real
// directories of the upper (or created as such), and files are created with O_EXCL, which
// never follows a symlink.
import { constants } from 'node:fs';
import { chmod, copyFile, lchown, lutimes, mkdir, rm, symlink, link, open } from 'node:fs/promises';
import { join } from 'node:path';
import { LayeredTree, resolveInTree, type Resolved } from './layered-tree.js';

export interface Attrs {
  mode: number;
  uid: number;
  gid: number;
  /** Kept when given (COPY preserves a file's modification time); otherwise "now". */
  mtimeMs?: number;
}

export class UpperWriter {
  readonly tree: LayeredTree;

  /** @param lowers the parent's layer dirs, topmost first */
  constructor(
    readonly upper: string,
    lowers: readonly string[],
  ) {
    this.tree = new LayeredTree(upper, lowers);
  }

  resolve(path: string, followFinal = true): Promise<Resolved> {
    return resolveInTree(this.tree, path, { followFinal });
  }

  private host(parts: readonly string[]): string {
    return join(this.upper, ...parts);
  }

  /**
   * Makes every component of `parts` a directory of the merged view that is present in the
   * upper: directories from below are copied up with their attributes; missing ones are created
   * with `created`; a non-directory in the way (a symlink or file inside what is being copied)
   * is replaced. `parts` must be symlink-free (from resolve()).
   */
  async ensureDir(parts: readonly string[], created: Attrs): Promise<void> {
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i);
      const entry = await this.tree.lookup(sub);
      const host = this.host(sub);
      if (entry?.kind === 'dir') {
        if (entry.inUpper) continue;
        await mkdir(host);
        await applyAttrs(host, { mode: entry.mode, uid: entry.uid, gid: entry.gid, mtimeMs: entry.mtimeMs }, false);
        continue;
      }
      if (entry?.inUpper) await rm(host, { recursive: true, force: true });
      await mkdir(host);
      await applyAttrs(host, created, false);
    }
  }

  /** Removes what the upper holds at `parts` (what lower layers hold gets hidden by the new entry). */
  private async clear(parts: readonly string[]): Promise<void> {
    const entry = await this.tree.lookup(parts);
    if (entry?.inUpper) await rm(this.host(parts), { recursive: true, force: true });
  }

  /** A regular file at `parts` (its parent must already be a directory: ensureDir). */
  async writeFile(parts: readonly string[], source: string | AsyncIterable<Uint8Array>, attrs: Attrs): Promise<void> {
    await this.clear(parts);
    const host = this.host(parts);
    if (typeof source === 'string') {
      // EXCL: the name was just cleared; if anything appeared there, fail rather than follow it.
      await copyFile(source, host, constants.COPYFILE_EXCL);
    } else {
      const handle = await open(host, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        for await (const chunk of source) await handle.write(chunk);
      } finally {
        await handle.close();
      }
    }
    await applyAttrs(host, attrs, false);
  }

  async writeSymlink(parts: readonly string[], target: string, attrs: Attrs): Promise<void> {
    await this.clear(parts);
    const host = this.host(parts);
    await symlink(target, host);
    await applyAttrs(host, attrs, true);
  }

  /** A directory at `parts`: an existing one keeps its content and takes `attrs`. */
  async writeDir(parts: readonly string[], attrs: Attrs): Promise<void> {
    await this.ensureDir(parts, attrs);
    await applyAttrs(this.host(parts), attrs, false);
  }

  /** A hard link to a file this step already wrote; a file from a lower layer is copied instead. */
  async writeHardlink(parts: readonly string[], targetParts: readonly string[], attrs: Attrs): Promise<boolean> {
    const target = await this.tree.lookup(targetParts);
    if (target === null || target.kind !== 'file') return false;
    await this.clear(parts);
    if (target.inUpper) await link(target.hostPath, this.host(parts));
    else await this.writeFile(parts, target.hostPath, attrs);
    return true;
  }

  /** Sets a directory's time once everything inside it is written (writing changes it). */
  async setTime(parts: readonly string[], mtimeMs: number): Promise<void> {
    const seconds = mtimeMs / 1000;
    await lutimes(this.host(parts), seconds, seconds);
  }
}

/** Owner first: chown clears setuid/setgid bits, so the mode must come after it. */
async function applyAttrs(host: string, attrs: Attrs, isSymlink: boolean): Promise<void> {
  await lchown(host, attrs.uid, attrs.gid);
  if (!isSymlink) await chmod(host, attrs.mode & 0o7777);
  if (attrs.mtimeMs !== undefined) {
    const seconds = attrs.mtimeMs / 1000;
    await lutimes(host, seconds, seconds);
  }
}
