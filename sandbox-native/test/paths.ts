// Where the isolation suite keeps its things. One place, so the leak check and the
// sweeper look exactly where the harness writes.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export const REPO_ROOT = resolve(here, '../..');
export const SANDBOX_NATIVE_BIN = join(REPO_ROOT, 'sandbox-native/build/sandbox-native');
export const RUNC_BIN = '/usr/sbin/runc';

export const PROBE_SRC = join(here, 'probe.c');
export const BUILD_DIR = join(REPO_ROOT, 'sandbox-native/build/test');
export const PROBE_BIN = join(BUILD_DIR, 'probe');
/** Bump when global-setup changes what goes into the test rootfs. */
const ROOTFS_LAYOUT_VERSION = '1';

let templateDir: string | undefined;
/**
 * The test rootfs, named for its content (probe, busybox, layout). Another test run on the
 * same checkout (a colleague's, CI's) may build at the same time; a content-named directory
 * is built once and never replaced while someone copies from it.
 */
export function rootfsTemplate(): string {
  if (!templateDir) {
    const hash = createHash('sha256');
    hash.update(ROOTFS_LAYOUT_VERSION).update(readFileSync(PROBE_BIN)).update(readFileSync('/bin/busybox'));
    templateDir = join(BUILD_DIR, `rootfs-${hash.digest('hex').slice(0, 16)}`);
  }
  return templateDir;
}
/** A file at the top of the test rootfs that the host's / does not have. */
export const ROOTFS_MARKER = '.layercake-test-rootfs';

/** Everything a test run creates at run time lives under here. */
export const TEST_ROOT = '/run/layercake-test';
export const BUNDLES_DIR = join(TEST_ROOT, 'bundles');
export const HOST_SCRATCH_DIR = join(TEST_ROOT, 'host');
export const ID_RANGE_DIR = join(TEST_ROOT, 'id-ranges');

// Test containers take their uid/gid ranges far above the product's (200000 + n*65536),
// so a product worker on the same machine and a test run never compete, and "a process
// with a uid in this window" means "a test container's process".
export const TEST_ID_BASE = 1_000_000_000;
export const TEST_ID_SIZE = 65536;
export const TEST_ID_RANGES = 512;
export const TEST_ID_END = TEST_ID_BASE + TEST_ID_SIZE * TEST_ID_RANGES;

/** Container ids the suite creates all start with this. */
export const TEST_ID_PREFIX = 't-';
