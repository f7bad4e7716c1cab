import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { digestHex, type Digest } from './digest.js';

/**
 * Where everything lives under a store root:
 *   layers/<chain-id hex>/diff/        the layer, in overlayfs format (a lowerdir)
 *   layers/<chain-id hex>/layer.json   its identity and counts
 *   layers/<chain-id hex>/layer.tar    only for loaded layers whose tar we cannot re-create byte for byte
 *   images/<image-id hex>/config.json  the OCI image config, exactly the bytes the id hashes
 *   images/<image-id hex>/manifest.json
 *   images/<image-id hex>/derived-N.json  the config as checked, and its chain ids (image-records.ts)
 *   refs/<url-encoded repo:tag>        the image id a tag points at
 *   tmp/<kind>-<pid>-<random>/         work in progress; renamed into place when complete
 *   locks/<name>.lock/                 cross-process locks
 * Hex only in directory names: overlayfs splits lowerdir on ':'.
 */
export class StorePaths {
  constructor(readonly root: string) {}

  get layersDir(): string {
    return join(this.root, 'layers');
  }
  get imagesDir(): string {
    return join(this.root, 'images');
  }
  get refsDir(): string {
    return join(this.root, 'refs');
  }
  get tmpDir(): string {
    return join(this.root, 'tmp');
  }
  get locksDir(): string {
    return join(this.root, 'locks');
  }

  layer(chainId: Digest): string {
    return join(this.layersDir, digestHex(chainId));
  }
  layerDiff(chainId: Digest): string {
    return join(this.layer(chainId), 'diff');
  }
  image(imageId: Digest): string {
    return join(this.imagesDir, digestHex(imageId));
  }

  /**
   * A fresh path in tmp/ whose name records the owning process, so cleanup() can tell work in
   * progress from what a crashed process left behind.
   */
  newTmp(kind: string): string {
    return join(this.tmpDir, `${kind}-${process.pid}-${randomBytes(6).toString('hex')}`);
  }
}

/** The pid encoded in a tmp/ entry name, or null if the name is not ours. */
export function tmpOwnerPid(name: string): number | null {
  const match = /^[a-z-]+?-(\d+)-[0-9a-f]{12}$/.exec(name);
  return match ? Number(match[1]) : null;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
