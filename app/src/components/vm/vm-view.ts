// One VM run as the page shows it, folded from the vm job's events (vm.booting, vm.kernel,
// vm.ready, vm.stats, vm.exited) and its outcome: a pure reducer, tested without a browser.
import type { EngineEvent } from '../../../../protocol/events';
import type { ErrorPayload } from '../../../../protocol/errors';

export interface VmView {
  runId: string;
  phase: 'queued' | 'booting' | 'running' | 'exited' | 'failed';
  vmId?: string;
  accel?: 'kvm' | 'tcg';
  kernelPackage?: string;
  memoryBytes?: number;
  kernel?: { release: string; hostRelease: string };
  boot?: { firmwareMs: number; kernelMs: number; initMs: number; totalMs: number };
  stats?: { qemuRssBytes: number; memoryLimitBytes: number; containerMemoryBytes: number | null };
  exit?: { exitCode: number; reason: 'exited' | 'timeout' | 'boot-timeout' | 'killed' | 'crashed'; limitMs?: number };
  error?: ErrorPayload;
}

export function newVmView(runId: string): VmView {
  return { runId, phase: 'queued' };
}

export function foldVmEvent(view: VmView, event: EngineEvent): VmView {
  switch (event.type) {
    case 'vm.booting':
      return { ...view, phase: view.phase === 'queued' ? 'booting' : view.phase, vmId: event.vmId, accel: event.accel, kernelPackage: event.kernelPackage, memoryBytes: event.memoryBytes };
    case 'vm.kernel':
      return { ...view, kernel: { release: event.release, hostRelease: event.hostRelease } };
    case 'vm.ready': {
      const { firmwareMs, kernelMs, initMs, totalMs } = event;
      return { ...view, phase: view.phase === 'booting' ? 'running' : view.phase, boot: { firmwareMs, kernelMs, initMs, totalMs } };
    }
    case 'vm.stats':
      return { ...view, stats: { qemuRssBytes: event.qemuRssBytes, memoryLimitBytes: event.memoryLimitBytes, containerMemoryBytes: event.containerMemoryBytes } };
    case 'vm.exited':
      return { ...view, phase: 'exited', exit: { exitCode: event.exitCode, reason: event.reason, ...(event.limitMs ? { limitMs: event.limitMs } : {}) } };
    default:
      return view;
  }
}

/** The job's end: a refusal (a learner error) fails a VM that never booted; success changes nothing the events did not say. */
export function foldVmDone(view: VmView, done: { ok: true } | { ok: false; error: ErrorPayload }): VmView {
  if (done.ok) return view.phase === 'exited' ? view : { ...view, phase: 'exited' };
  return { ...view, phase: 'failed', error: done.error };
}

/** The parts of the boot as shares of the whole, for the bar (each at least a sliver, so all three show). */
export function bootShares(boot: NonNullable<VmView['boot']>): { firmware: number; kernel: number; init: number } {
  const total = Math.max(1, boot.firmwareMs + boot.kernelMs + boot.initMs);
  const share = (ms: number) => Math.max(0.02, ms / total);
  return { firmware: share(boot.firmwareMs), kernel: share(boot.kernelMs), init: share(boot.initMs) };
}
