// What a VM of an image runs: the image's layers, and its command, environment and working
// directory as a container of it would get them (ENTRYPOINT + CMD, or the command given).
import type { ImageStore } from '../image-store/index.js';
import type { RunSettings } from './initramfs.js';
import type { VmImage } from './vm.js';

export async function vmOfImage(store: ImageStore, imageId: string, cmd?: string[]): Promise<{ image: VmImage; settings: RunSettings }> {
  const image = await store.inspect(imageId);
  const config = image.config.config ?? {};
  const args = [...(config.Entrypoint ?? []), ...(cmd && cmd.length ? cmd : (config.Cmd ?? []))];
  return {
    image: { imageId: image.id, layers: await store.layerDirs(image.id) },
    settings: {
      args: args.length ? args : ['sh'],
      env: [...(config.Env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']), 'TERM=xterm'],
      workingDir: config.WorkingDir || '/',
      hostname: 'vm',
    },
  };
}

/** qemu's resident memory, from /proc (0 once it is gone): the process at `pid` (unshare) and
 * those below it (qemu, forked into its pid namespace). */
export async function residentBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const own = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).split(' ').filter(Boolean).map(Number);
  const below = await Promise.all(children.map((child) => residentBytes(child)));
  return below.reduce((sum, bytes) => sum + bytes, own);
}
