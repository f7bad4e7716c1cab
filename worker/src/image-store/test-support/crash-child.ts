/**
 * Run as a separate process by the cleanup test: starts loading a layer into the store, says
 * "ready" once the half-written layer exists in tmp/, then waits to be SIGKILLed — a real crash
 * at a known point, not a simulated one.
 */
import { pino } from 'pino';
import { sha256 } from '../digest.js';
import { LayerStore } from '../layer-store.js';
import { imageStoreLimits } from '../limits.js';
import { StorePaths } from '../paths.js';
import { encodeTarHeader } from '../tar-codec.js';

const root = process.argv[2]!;
const layers = new LayerStore(new StorePaths(root), pino({ level: 'silent' }));
setInterval(() => undefined, 1 << 30); // keep the process alive while it "works"

async function* neverEndingTar(): AsyncGenerator<Buffer> {
  yield encodeTarHeader({ name: 'big-file', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 64 << 20, mtime: 0 });
  yield Buffer.alloc(1 << 20, 0x61);
  process.stdout.write('ready\n');
  await new Promise(() => undefined);
}

await layers.stageTar(neverEndingTar(), null, sha256('never'), imageStoreLimits);
