// Setup step: the engine's data dir as its own quota-capable filesystem (worker/src/disk/data-filesystem.ts),
// created on the first run and mounted again on later ones (after a reboot the loop mount is gone).
import { pino } from 'pino';
import { loadConfig } from '../worker/src/config.js';
import { ensureDataFilesystem } from '../worker/src/disk/data-filesystem.js';

const config = loadConfig();
const log = pino({ name: 'setup', level: config.logLevel });
const fs = await ensureDataFilesystem({ image: config.dataImage, mountPoint: config.dataDir, sizeBytes: config.dataSizeBytes, log });
process.stderr.write(
  fs
    ? `[setup] engine data: ${fs.mountPoint} (${fs.kind}, ${fs.action}, image ${fs.image})\n`
    : `[setup] engine data: ${config.dataDir} without disk quotas (see the warning above)\n`,
);
