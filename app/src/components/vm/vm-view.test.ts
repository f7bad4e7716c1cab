// The VM pane's reducer over the vm job's real event shapes (protocol/events.ts parses each, so
// a field the worker no longer sends fails here).
import { describe, expect, it } from 'vitest';
import { engineEvent, type EngineEvent } from '../../../../protocol/events';
import { bootShares, foldVmDone, foldVmEvent, newVmView } from './vm-view';

let seq = 0;
const ev = (body: Record<string, unknown>): EngineEvent => engineEvent.parse({ runId: 'vm-1', seq: seq++, at: new Date().toISOString(), ...body });

describe('the VM pane’s view', () => {
  it('follows a boot from queued to powered off: accel, kernel beside the host’s, boot split, memory, exit', () => {
    let v = newVmView('vm-1');
    expect(v.phase).toBe('queued');
    v = foldVmEvent(v, ev({ type: 'vm.booting', vmId: 'vm-abc', image: 'hello', accel: 'tcg', vcpus: 1, memoryBytes: 256 << 20, kernelPackage: 'linux-image-6.1.0-57-amd64' }));
    expect(v).toMatchObject({ phase: 'booting', vmId: 'vm-abc', accel: 'tcg' });
    v = foldVmEvent(v, ev({ type: 'vm.kernel', vmId: 'vm-abc', release: '6.1.0-57-amd64', hostRelease: '6.18.0' }));
    v = foldVmEvent(v, ev({ type: 'vm.ready', vmId: 'vm-abc', firmwareMs: 400, kernelMs: 1200, initMs: 600, totalMs: 2200 }));
    expect(v.phase).toBe('running');
    expect(v.kernel).toEqual({ release: '6.1.0-57-amd64', hostRelease: '6.18.0' });
    v = foldVmEvent(v, ev({ type: 'vm.stats', vmId: 'vm-abc', qemuRssBytes: 90 << 20, memoryLimitBytes: 256 << 20, containerMemoryBytes: 1 << 20 }));
    expect(v.stats?.containerMemoryBytes).toBe(1 << 20);
    v = foldVmEvent(v, ev({ type: 'vm.exited', vmId: 'vm-abc', exitCode: 3, reason: 'exited' }));
    expect(v).toMatchObject({ phase: 'exited', exit: { exitCode: 3, reason: 'exited' } });
    expect(foldVmDone(v, { ok: true })).toBe(v);
  });

  it('a refused job fails the pane with its error; the boot bar keeps every part visible', () => {
    const failed = foldVmDone(newVmView('vm-2'), { ok: false, error: { kind: 'learner', key: 'image.notFound', facts: {} } });
    expect(failed).toMatchObject({ phase: 'failed', error: { key: 'image.notFound' } });
    const s = bootShares({ firmwareMs: 0, kernelMs: 5000, initMs: 10, totalMs: 5010 });
    expect(s.firmware).toBeGreaterThan(0);
    expect(s.kernel).toBeGreaterThan(0.9);
  });
});
