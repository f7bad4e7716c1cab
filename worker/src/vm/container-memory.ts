// What a container of the same image, running the same command, holds in memory: the figure
// vm.stats puts beside qemu's. Measured once per image and command (a short-lived container of
// the session, stdin open so a shell waits as the VM's does, removed after) and remembered.
import type { Containers } from '../containers/index.js';

/** Long enough for the command to have started and settled; a container is quick to start. */
const SETTLE_MS = 1_000;
const remembered = new Map<string, number>();

export async function containerMemoryBytes(containers: Containers, imageId: string, cmd: string[] | undefined): Promise<number | null> {
  const key = JSON.stringify([imageId, cmd ?? null]);
  const known = remembered.get(key);
  if (known !== undefined) return known;
  const { container, attachment } = await containers.run(
    { image: imageId, ...(cmd && cmd.length ? { cmd } : {}), openStdin: true, tty: true, autoRemove: true },
    { attach: true },
  );
  const closed = new Promise<void>((r) => attachment!.on('close', () => r()));
  try {
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const stats = await containers.stats(container.id, { intervalMs: 100 });
    if (!stats.running) return null;
    remembered.set(key, stats.memoryBytes);
    return stats.memoryBytes;
  } finally {
    await containers.kill(container.id).catch(() => {});
    await closed;
    await containers.remove(container.id, { force: true }).catch(() => {});
  }
}
