// `vm`: the session's image booted as a virtual machine (worker/src/vm/). Unlike `run`, the job
// lasts as long as the VM: qemu lives in this worker process (a VM has no detached monitor),
// and dies with it. The serial console is relayed to the page like a container's terminal (the
// host's terminal relays, under the VM's id, from before its first byte); its last 64 KiB also
// come back in the result.
import { readFileSync } from 'node:fs';
import { Containers } from '../../containers/index.js';
import { SessionImages } from '../../sessions/images.js';
import { ContainerAttachment } from '../../containers/index.js';
import { containerMemoryBytes } from '../../vm/container-memory.js';
import { VmTerminal } from '../../vm/terminal.js';
import { vmOfImage, residentBytes } from '../../vm/image-run.js';
import { defaultVmLimits, startVm } from '../../vm/vm.js';
import type { JobHandler } from './types.js';

const OUTPUT_KEPT_BYTES = 64 * 1024;
const STATS_EVERY_MS = 2_000;

export const handleVm: JobHandler<'vm'> = async (input, { engine, events, signal, log, terminal }) => {
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
  // vm.booting goes out once the terminal relay holds the console, so a page that opens the
  // terminal on it finds it; what the guest says before then waits behind it.
  let booting: (() => void) | null = null;
  const later: (() => void)[] = [];
  const afterBooting = (emit: () => void) => (booting ? later.push(emit) : emit());
  const vm = await startVm({ dataDir: engine.dataDir, idRanges: engine.idRanges, log }, image, settings, limits, {
    booting: (b) => {
      vmId = b.id;
      booting = () => events.emit({ type: 'vm.booting', vmId, image: input.image, accel: b.accel, vcpus: b.vcpus, memoryBytes: b.memoryBytes, kernelPackage: b.kernelPackage });
    },
    kernel: (release) => {
      kernel = release;
      afterBooting(() => events.emit({ type: 'vm.kernel', vmId, release, hostRelease: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim() }));
    },
    ready: (times) => {
      boot = times;
      afterBooting(() => events.emit({ type: 'vm.ready', vmId, ...times }));
      if (input.input) vm.terminal.write(input.input);
      void measureContainer();
    },
  });
  vmId = vm.id;
  if (terminal) {
    await terminal(vm.id, input.sessionId, new ContainerAttachment(new VmTerminal(vm), () => {})).catch((err: unknown) =>
      log.warn({ err, vm: vm.id }, 'terminal relay not started with the VM'),
    );
  }
  (booting as (() => void) | null)?.();
  booting = null;
  for (const emit of later.splice(0)) emit();
  const onAbort = () => vm.kill();
  signal.addEventListener('abort', onAbort);
  let output = Buffer.alloc(0);
  vm.terminal.on('output', (_stream, data: Buffer) => {
    output = Buffer.concat([output, data]);
    if (output.length > OUTPUT_KEPT_BYTES) output = output.subarray(output.length - OUTPUT_KEPT_BYTES);
  });
  // Beside qemu's memory, a container's of the same image and command (measured once the guest
  // has booted, so the two do not share the cores during the boot).
  let containerBytes: number | null = null;
  const measureContainer = () =>
    containerMemoryBytes(new Containers({ ...engine, session: input.sessionId }), imageId, input.cmd).then(
      (bytes) => (containerBytes = bytes),
      (err: unknown) => log.warn({ err, vm: vmId }, 'no container to compare the VM’s memory with'),
    );
  const stats = setInterval(() => {
    void residentBytes(vm.terminal.pid).then((rss) => {
      if (rss > 0) events.emit({ type: 'vm.stats', vmId, qemuRssBytes: rss, memoryLimitBytes: limits.memoryBytes, containerMemoryBytes: containerBytes });
    });
  }, STATS_EVERY_MS);
  try {
    const end = await vm.ended;
    events.emit({ type: 'vm.exited', vmId, exitCode: end.exitCode, reason: end.reason, ...(end.limitMs ? { limitMs: end.limitMs } : {}) });
    return { exitCode: end.exitCode, reason: end.reason, accel: vm.accel, kernel, boot, output: output.toString('utf8') };
  } finally {
    clearInterval(stats);
    signal.removeEventListener('abort', onAbort);
  }
};
