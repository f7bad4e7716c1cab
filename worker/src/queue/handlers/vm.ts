// `vm`: the session's image booted as a virtual machine (worker/src/vm/). Unlike `run`, the job
// lasts as long as the VM: qemu lives in this worker process (a VM has no detached monitor),
// and dies with it. The serial console's output comes back in the result; the page's live
// terminal relay (worker/src/terminals/) speaks to containers only so far.
import { readFileSync } from 'node:fs';
import { SessionImages } from '../../sessions/images.js';
import { vmOfImage, residentBytes } from '../../vm/image-run.js';
import { defaultVmLimits, startVm } from '../../vm/vm.js';
import type { JobHandler } from './types.js';

const OUTPUT_KEPT_BYTES = 64 * 1024;
const STATS_EVERY_MS = 2_000;

export const handleVm: JobHandler<'vm'> = async (input, { engine, events, signal, log }) => {
  const imageId = await new SessionImages(engine.store, input.sessionId, engine.dataDir).resolve(input.image);
  const { image, settings } = await vmOfImage(engine.store, imageId, input.cmd);
  const limits = {
    memoryBytes: input.memoryBytes ?? defaultVmLimits.memoryBytes,
    cpus: input.cpus ?? defaultVmLimits.cpus,
    timeoutMs: input.timeoutMs ?? defaultVmLimits.timeoutMs,
  };
  let vmId = '';
  let kernel: string | null = null;
  let boot: { firmwareMs: number; kernelMs: number; initMs: number; totalMs: number } | null = null;
  const vm = await startVm({ dataDir: engine.dataDir, idRanges: engine.idRanges, log }, image, settings, limits, {
    booting: (b) => events.emit({ type: 'vm.booting', vmId: (vmId = b.id), image: input.image, accel: b.accel, vcpus: b.vcpus, memoryBytes: b.memoryBytes, kernelPackage: b.kernelPackage }),
    kernel: (release) => {
      kernel = release;
      events.emit({ type: 'vm.kernel', vmId, release, hostRelease: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim() });
    },
    ready: (times) => {
      boot = times;
      events.emit({ type: 'vm.ready', vmId, ...times });
      if (input.input) vm.terminal.write(input.input);
    },
  });
  vmId = vm.id;
  const onAbort = () => vm.kill();
  signal.addEventListener('abort', onAbort);
  let output = Buffer.alloc(0);
  vm.terminal.on('output', (_stream, data: Buffer) => {
    output = Buffer.concat([output, data]);
    if (output.length > OUTPUT_KEPT_BYTES) output = output.subarray(output.length - OUTPUT_KEPT_BYTES);
  });
  const stats = setInterval(() => {
    void residentBytes(vm.terminal.pid).then((rss) => {
      if (rss > 0) events.emit({ type: 'vm.stats', vmId, qemuRssBytes: rss, memoryLimitBytes: limits.memoryBytes, containerMemoryBytes: null });
    });
  }, STATS_EVERY_MS);
  try {
    const end = await vm.ended;
    events.emit({ type: 'vm.exited', vmId, exitCode: end.exitCode, reason: end.reason });
    return { exitCode: end.exitCode, reason: end.reason, accel: vm.accel, kernel, boot, output: output.toString('utf8') };
  } finally {
    clearInterval(stats);
    signal.removeEventListener('abort', onAbort);
  }
};
