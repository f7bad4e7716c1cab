// Start-to-ready of the same image (busybox) as a container and as a VM, N runs each in the
// same run: the lesson's headline number. "Ready" is the same moment for both: the image's
// command has been started (the launcher's start has returned; the guest's init says READY
// just before it runs the command), from the engine's call that made it. The container
// runs under the real launcher with every hardening; the VM boots Debian's kernel under qemu
// (TCG where KVM does not work, as here: the line says which).
//
// Run: npx tsx bench/vm-start.ts [runs]     (as root; default 20 each)
import { rmdir } from 'node:fs/promises';
import { pino } from 'pino';
import { createHarness } from '../worker/src/containers/test-support/harness.js';
import { vmOfImage } from '../worker/src/vm/image-run.js';
import { hostAccel, startVm } from '../worker/src/vm/vm.js';

const runs = Number(process.argv[2] ?? 20);
const h = await createHarness('bench-vm-start');
const log = pino({ level: 'warn' });
const host = { dataDir: h.dataDir, idRanges: h.idRanges, log, cgroupParent: 'layercake-bench-vm' };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

try {
  const containers = h.containers();
  const container: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const { attachment } = await containers.run({ image: 'busybox', cmd: ['true'], tty: false, openStdin: false, autoRemove: true }, { attach: true });
    container.push(performance.now() - t0);
    await new Promise<void>((r) => attachment!.on('close', () => r()));
  }
  await h.clean();

  const accel = await hostAccel(host);
  const { image, settings } = await vmOfImage(h.store, (await h.store.inspect('busybox')).id, ['true']);
  // The first boot also makes the image's disk and the initramfs (cached after): not counted.
  await (await startVm(host, image, settings, { memoryBytes: 256 << 20, cpus: 1, timeoutMs: 120_000 })).ended;
  const vm: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    let readyAt = 0;
    const running = await startVm(host, image, settings, { memoryBytes: 256 << 20, cpus: 1, timeoutMs: 120_000 }, { ready: () => (readyAt = performance.now()) });
    const end = await running.ended;
    if (!readyAt) throw new Error(`VM run ${i} never became ready (${end.reason})`);
    vm.push(readyAt - t0);
  }
  const c = median(container);
  const v = median(vm);
  console.log(`start-to-ready, busybox, ${runs} runs each (median):`);
  console.log(`  container (sandbox-native)     ${c.toFixed(0)} ms   (min ${Math.min(...container).toFixed(0)}, max ${Math.max(...container).toFixed(0)})`);
  console.log(`  VM (qemu microvm, ${accel.toUpperCase()})       ${v.toFixed(0)} ms   (min ${Math.min(...vm).toFixed(0)}, max ${Math.max(...vm).toFixed(0)})`);
  console.log(`  ratio VM / container          ${(v / c).toFixed(1)}×${accel === 'tcg' ? '  (TCG emulates every guest instruction; a KVM guest boots several times faster)' : ''}`);
} finally {
  await h.close();
  for (const c of ['memory', 'pids', 'cpu', '']) await rmdir(`/sys/fs/cgroup/${c}/layercake-bench-vm`.replace('//', '/')).catch(() => {});
}
