'use client';
// The built image booted as a VM beside its containers: the Boot button, what ran it (KVM or
// TCG, and what that means), the guest's kernel beside the host's, the boot split into qemu,
// kernel and init, qemu's memory beside a container's of the same image, and the serial
// console in the same terminal widget a container's uses (relayed under the VM's id).
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { formatBytes, renderMessage, type ErrorPayload } from '../../../../protocol/errors';
import type { MessageKey } from '../../../../protocol/i18n';
import { useErrorText, useLocale, useT } from '../../lib/i18n/client';
import { followRun, request } from '../../lib/socket';
import { useBuildRun } from '../session/PlaySession';
import { messages } from './messages';
import { bootShares, foldVmDone, foldVmEvent, newVmView, type VmView } from './vm-view';
import styles from './vm.module.css';

export interface VmPanelProps {
  /** The VM's serial console (the terminal widget under the VM's id, named Terminal as a container's). */
  renderTerminal: (vmId: string) => ReactNode;
}

export function VmPanel({ renderTerminal }: VmPanelProps) {
  const t = useT(messages);
  const { locale } = useLocale();
  const errorText = useErrorText();
  const build = useBuildRun()?.build;
  const target = build?.status === 'finished' ? (build.tags[0] ?? build.imageId) : undefined;
  const [view, setView] = useState<VmView | null>(null);
  const [refused, setRefused] = useState<ErrorPayload | null>(null);
  const stop = useRef<(() => void) | null>(null);
  useEffect(() => () => stop.current?.(), []);
  const m = (key: MessageKey, facts: Record<string, string | number> = {}) => renderMessage(key, facts, locale);

  async function onBoot() {
    if (!target) return;
    setRefused(null);
    const reply = await request('runs:vm', { image: target });
    if (!reply.ok) return setRefused(reply.error);
    stop.current?.();
    setView(newVmView(reply.runId));
    stop.current = followRun(reply.runId, {
      onEvent: (event) => setView((v) => (v ? foldVmEvent(v, event) : v)),
      onDone: (done) => setView((v) => (v ? foldVmDone(v, done.ok ? { ok: true } : { ok: false, error: done.error }) : v)),
      onError: (error) => setView((v) => (v ? foldVmDone(v, { ok: false, error }) : v)),
    });
  }

  const busy = view !== null && (view.phase === 'queued' || view.phase === 'booting' || view.phase === 'running');
  const exit = view?.exit;
  const ending =
    exit?.reason === 'timeout'
      ? m('vm.timeout', { seconds: Math.round((exit.limitMs ?? 0) / 1000) })
      : exit?.reason === 'boot-timeout'
        ? m('vm.bootTimeout', { seconds: Math.round((exit.limitMs ?? 0) / 1000), accel: (view?.accel ?? 'tcg').toUpperCase() })
        : exit?.reason === 'killed'
          ? m('vm.killed')
          : exit?.reason === 'crashed'
            ? m('vm.crashed', { detail: `exit ${exit.exitCode}` })
            : exit
              ? m('vm.exited', { exitCode: exit.exitCode })
              : null;

  return (
    <section className={styles.panel} aria-labelledby="vm-heading">
      <h2 id="vm-heading" className={styles.heading}>{t('vm.panel')}</h2>
      <p className={styles.intro}>{t('vm.intro')}</p>
      <div className={styles.actions}>
        <button type="button" onClick={() => void onBoot()} disabled={!target || busy}>
          {t('vm.boot')}
        </button>
        {!target && <span className={styles.hint}>{t('vm.needsImage')}</span>}
      </div>
      {refused && <p role="alert" className={styles.error}>{errorText(refused)}</p>}
      {view && (
        <div className={styles.body}>
          <div role="status" className={styles.status}>
            {view.phase === 'queued' && t('vm.queued')}
            {view.phase === 'booting' && t('vm.booting')}
            {view.phase === 'running' && t('vm.running')}
            {view.phase === 'exited' && exit && t('vm.exitedCode', { code: exit.exitCode })}
            {view.phase === 'failed' && view.error && errorText(view.error)}
          </div>
          {view.accel && (
            <p className={view.accel === 'tcg' ? styles.tcg : styles.kvm} data-accel={view.accel}>
              <strong>{view.accel.toUpperCase()}</strong> · {m(view.accel === 'tcg' ? 'vm.accel.tcg' : 'vm.accel.kvm').replace(/^(TCG|KVM):\s*/, '') /* the text starts with the name the CLI needs; here it stands in bold */}
            </p>
          )}
          {view.kernel && <p className={styles.fact}>{m('vm.kernel', view.kernel)}</p>}
          {view.boot && <BootSplit boot={view.boot} label={t('vm.bootSplit')} parts={{ firmware: t('vm.part.firmware'), kernel: t('vm.part.kernel'), init: t('vm.part.init') }} summary={m('vm.ready', view.boot)} />}
          {view.stats && (
            <p className={styles.fact}>
              <strong>{t('vm.memory')}</strong> ·{' '}
              {m('vm.stats', {
                qemu: formatBytes(view.stats.qemuRssBytes),
                limit: formatBytes(view.stats.memoryLimitBytes),
                container: view.stats.containerMemoryBytes === null ? '…' : formatBytes(view.stats.containerMemoryBytes),
              })}
            </p>
          )}
          {ending && view.phase === 'exited' && <p className={styles.fact}>{ending}</p>}
          {view.vmId && <div className={styles.terminal}>{renderTerminal(view.vmId)}</div>}
        </div>
      )}
    </section>
  );
}

function BootSplit({ boot, label, parts, summary }: { boot: NonNullable<VmView['boot']>; label: string; parts: Record<'firmware' | 'kernel' | 'init', string>; summary: string }) {
  const shares = bootShares(boot);
  const ms = { firmware: boot.firmwareMs, kernel: boot.kernelMs, init: boot.initMs };
  return (
    <figure className={styles.split}>
      <figcaption>
        <strong>{label}</strong> · {summary}
      </figcaption>
      <div className={styles.bar} role="img" aria-label={summary}>
        {(['firmware', 'kernel', 'init'] as const).map((part) => (
          <span key={part} className={styles[part]} style={{ flexGrow: shares[part] }} title={`${parts[part]} ${ms[part]} ms`}>
            {parts[part]} {ms[part]} ms
          </span>
        ))}
      </div>
    </figure>
  );
}
