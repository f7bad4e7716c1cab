'use client';
// Session time: how long the session's running containers live without activity (the engine's
// idle reaper stops them after their idleTimeoutMs), and, before it acts, a warning with a
// "Keep working" button that counts as activity. The deadline comes from the engine (each
// container's last activity, read with inspect) so what the page says is what the reaper does.
// A host may also limit each start's wall-clock time; when that comes first the header counts
// down to it instead, and its warning asks for a commit (activity cannot move it).
import { useEffect, useState } from 'react';
import { useT } from '../../lib/i18n/client';
import { idleDeadline, idleWarningMs, limitDeadline, type SessionState } from '../../lib/run-store';
import { formatClock } from '../layers/format';
import { usePlaySession } from './PlaySession';
import { messages } from './messages';
import styles from './session.module.css';

function useNow(everyMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/** The time limit warns as long before as the idle stop does. */
function limitWarningMs(timeLimitMs: number): number {
  return idleWarningMs(timeLimitMs);
}

/** Whichever stop comes first: the idle reaper's or a time limit's. */
function firstStop(session: SessionState): { containerId: string; atMs: number; kind: 'idle' | 'limit' } | null {
  const idle = idleDeadline(session);
  const limit = limitDeadline(session);
  if (limit && (!idle || limit.atMs < idle.atMs)) return { ...limit, kind: 'limit' };
  return idle ? { ...idle, kind: 'idle' } : null;
}

/** The short form for the page header's status slot. */
export function SessionTimer() {
  const t = useT(messages);
  const { session, connected } = usePlaySession();
  const now = useNow(1000);
  const stop = firstStop(session);
  // The page's connection status says so when offline; a stale countdown would mislead.
  if (!connected) return null;
  if (!stop) return <span className={styles.timer} role="status">{t('session.noContainers')}</span>;
  const left = Math.max(0, stop.atMs - now);
  const container = session.containers[stop.containerId];
  const warnWithin = stop.kind === 'idle' ? container?.idleTimeoutMs && idleWarningMs(container.idleTimeoutMs) : container?.timeLimitMs && limitWarningMs(container.timeLimitMs);
  const warn = warnWithin !== undefined && left <= warnWithin;
  const label = stop.kind === 'idle' ? t('session.timeLeftLabel', { time: formatClock(left) }) : t('session.limitLabel', { name: container?.name ?? '', time: formatClock(left) });
  return (
    // A timer is not read out as it ticks (aria-live off); its name says what the time is for.
    <span role="timer" aria-label={label} className={`${styles.timer} ${warn ? styles.timerWarn : ''}`} title={label}>
      {t('session.timeLeft', { time: formatClock(left) })}
    </span>
  );
}

/** Shortly before a container's time limit: a warning that only a commit keeps its files. */
export function LimitWarning() {
  const t = useT(messages);
  const { session } = usePlaySession();
  const now = useNow(1000);
  const deadline = limitDeadline(session);
  const container = deadline ? session.containers[deadline.containerId] : undefined;
  if (!deadline || !container?.timeLimitMs) return null;
  const left = Math.max(0, deadline.atMs - now);
  if (left > limitWarningMs(container.timeLimitMs)) return null;
  return (
    <div className={styles.warning} role="alert">
      <p>{t('session.limitWarning', { name: container.name, time: formatClock(left) })}</p>
    </div>
  );
}

/** The warning shown before the reaper stops a container, with "Keep working". */
export function IdleWarning() {
  const t = useT(messages);
  const { session, keepWorking } = usePlaySession();
  const now = useNow(1000);
  const [kept, setKept] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const deadline = idleDeadline(session);
  const container = deadline ? session.containers[deadline.containerId] : undefined;
  const left = deadline ? deadline.atMs - now : Infinity;
  const warn = container?.idleTimeoutMs !== undefined && left <= idleWarningMs(container.idleTimeoutMs);

  useEffect(() => {
    if (!kept) return;
    const timer = setTimeout(() => setKept(null), 4000);
    return () => clearTimeout(timer);
  }, [kept]);

  if (kept && !warn) return <p className={styles.kept} role="status">{t('session.kept', { name: kept })}</p>;
  if (!warn || !container) return null;
  return (
    <div className={styles.warning} role="alert">
      <p>{t('session.idleWarning', { name: container.name, time: formatClock(left) })}</p>
      <button
        type="button"
        className={styles.keep}
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          // Every running container, not only the first to go: the learner means all of them.
          const running = Object.values(session.containers).filter((c) => c.status === 'running');
          await Promise.all(running.map((c) => keepWorking(c.id)));
          setBusy(false);
          setKept(container.name);
        }}
      >
        {t('session.keepWorking')}
      </button>
    </div>
  );
}
