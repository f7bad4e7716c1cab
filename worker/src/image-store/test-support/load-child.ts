/**
 * Run as a separate process by the load tests: loads an archive and stops at a known point —
 * `stage` once the first new layer is staged in tmp/, `publish` once layers and images are in
 * place and before any tag — says so on stdout, then waits to be SIGKILLed: a real crash there.
 */
import { ImageStore } from '../store.js';

const [root, file, at] = process.argv.slice(2) as [string, string, 'stage' | 'publish'];
const store = await ImageStore.open(root);
const stop = async (): Promise<void> => {
  process.stdout.write(`${at}\n`);
  await new Promise(() => undefined);
};
setInterval(() => undefined, 1 << 30); // alive while "working"
await store.load(file, at === 'stage' ? { afterLayerStaged: stop } : { beforeTags: stop });
