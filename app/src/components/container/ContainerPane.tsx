'use client';
// One container: its terminal, Stop / Remove / Commit, the exit (with a clear notice for an OOM
// kill and for the time limit), its filesystem drawn as the image's read-only layers under its
// thin writable layer, the diff of that layer (Changes, polled while it runs), and memory,
// processes and CPU against the limits.
import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import type { ErrorPayload } from '../../../../protocol/errors';
import { useErrorText, useLocale, useT } from '../../lib/i18n/client';
import type { Locale } from '../../lib/i18n/locale';
import { formatBinaryBytes, formatBytes, NBSP } from '../../lib/i18n/units';
import { emptyRun, type ContainerDiff, type ContainerExit, type ContainerStatsView, type ContainerStatus } from '../../lib/run-store';
import { formatDuration, shortId } from '../layers/format';
import { readCommit, readHistory, readInspect } from '../session/engine-results';
import { useContainerPolling, usePlaySession } from '../session/PlaySession';
import { messages } from './messages';
import styles from './container.module.css';

const CHANGES_SHOWN = 200;

function newer<T extends { at: string }>(a: T | undefined, b: T | undefined): T | undefined {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(b.at) > Date.parse(a.at) ? b : a;
}

interface ContainerPaneProps {
  runId: string;
  renderTerminal?: ((containerId: string) => ReactNode) | undefined;
  /** Shown now (not a hidden tab): only then are its diff and stats polled. */
  visible?: boolean;
}

export function ContainerPane({ runId, renderTerminal, visible = true }: ContainerPaneProps) {
  const t = useT(messages);
  const { locale } = useLocale();
  const errorText = useErrorText();
  const { runs, session, containerOp, imageOp, refreshContainers, refreshImages, closePane, dispatchSession } = usePlaySession();
  const run = runs[runId] ?? emptyRun(runId);
  const containerId = Object.keys(run.containers)[0];
  const view = containerId ? run.containers[containerId] : undefined;
  const listed = containerId ? session.containers[containerId] : undefined;
  const detail = containerId ? session.details[containerId] : undefined;
  const live = containerId ? session.live[containerId] : undefined;
  const [removed, setRemoved] = useState(false);
  const [busy, setBusy] = useState<null | 'stop' | 'rm' | 'commit'>(null);
  const [failure, setFailure] = useState<ErrorPayload | null>(null);
  const [committed, setCommitted] = useState<string | null>(null);
  const [commitTag, setCommitTag] = useState('');

  const status: ContainerStatus = removed
    ? 'removed'
    : view?.status === 'exited' || listed?.status === 'exited'
      ? 'exited'
      : (view?.status ?? listed?.status ?? 'created');
  const exit: ContainerExit | undefined =
    view?.exit ?? (listed?.status === 'exited' && listed.exitCode !== undefined ? { exitCode: listed.exitCode, oomKilled: listed.oomKilled ?? false, timedOut: listed.timedOut ?? false } : undefined);
  const diff: ContainerDiff | undefined = newer(view?.diff, live?.diff);
  const stats: ContainerStatsView | undefined = newer(view?.stats, live?.stats);
  const name = view?.name ?? listed?.name ?? (containerId ? containerId.slice(0, 12) : '');
  const image = view?.image ?? listed?.image ?? '';
  const imageId = detail?.imageId ?? listed?.imageId;

  // Asked by name where known, so the engine's messages name it as the learner knows it.
  const ref = view?.name ?? listed?.name ?? containerId;

  useContainerPolling(containerId, visible && status === 'running');

  // Its image's layers: inspect once (bottom to top), history for what made each.
  useEffect(() => {
    if (!containerId || detail || status === 'removed') return;
    void containerOp({ op: 'inspect', container: containerId }).then((reply) => {
      const container = reply.ok ? readInspect(reply.result) : null;
      if (container) dispatchSession({ type: 'inspected', detail: container });
    });
  }, [containerId, detail, status, containerOp, dispatchSession]);
  // The writable layer's size comes with each diff reading, so it follows the changes live;
  // before the first reading, inspect's.
  const writableBytes = live?.diff?.sizeBytes ?? detail?.writableLayer.sizeBytes;
  const history = imageId ? session.history[imageId] : undefined;
  useEffect(() => {
    if (!imageId || history) return;
    void imageOp({ op: 'history', image: imageId }).then((reply) => {
      const read = reply.ok ? readHistory(reply.result) : null;
      if (read) dispatchSession({ type: 'historyLoaded', imageId, rows: read.rows });
    });
  }, [imageId, history, imageOp, dispatchSession]);

  async function op(kind: 'stop' | 'rm') {
    if (!ref) return;
    setBusy(kind);
    setFailure(null);
    const reply = await containerOp(kind === 'stop' ? { op: 'stop', container: ref } : { op: 'rm', container: ref });
    setBusy(null);
    if (!reply.ok) {
      setFailure(reply.error);
      return;
    }
    if (kind === 'rm') setRemoved(true);
    void refreshContainers();
    if (kind === 'rm') void refreshImages();
  }

  async function onCommit(e: FormEvent) {
    e.preventDefault();
    if (!ref) return;
    setBusy('commit');
    setFailure(null);
    const tag = commitTag.trim();
    const reply = await containerOp({ op: 'commit', container: ref, ...(tag ? { commitTag: tag } : {}) });
    setBusy(null);
    if (!reply.ok) {
      setFailure(reply.error);
      return;
    }
    const result = readCommit(reply.result);
    if (result) setCommitted(result.tag ?? shortId(result.imageId));
    void refreshImages();
  }

  const shownImage = image.startsWith('sha256:') ? shortId(image) : image;
  const startError = run.outcome && !run.outcome.ok ? run.outcome.error : null;
  const limits = view?.limits ?? (detail ? { memoryBytes: detail.limits.memoryBytes, pidsMax: detail.limits.pidsMax, cpus: detail.cpus, idleTimeoutMs: detail.limits.idleTimeoutMs } : undefined);

  return (
    <section className={styles.pane} aria-label={t('container.region', { name: name || '…' })} data-status={status}>
      {/* One line at any width: the names give way (ellipsis, full text in the title), the buttons never do. */}
      <header className={styles.paneHead}>
        <span className={styles.paneWho}>
          <h3 className={styles.paneTitle} title={name}>
            <code>{name || '…'}</code>
          </h3>
          <span className={`${styles.chip} ${styles[`chip_${status}`]}`}>{t(`container.status.${status}`)}</span>
          {image && <span className={`${styles.muted} ${styles.fromImage}`} title={shownImage}>{t('container.fromImage', { image: shownImage })}</span>}
        </span>
        {status === 'removed' ? (
          <button type="button" className={styles.button} onClick={() => closePane(runId)}>{t('container.close')}</button>
        ) : (
          <>
            <button type="button" className={styles.button} disabled={!containerId || status !== 'running' || busy !== null} onClick={() => void op('stop')}>
              {t('container.stop')}
            </button>
            <button type="button" className={styles.button} disabled={!containerId || busy !== null} onClick={() => void op('rm')}>
              {t('container.remove')}
            </button>
          </>
        )}
      </header>

      {!containerId && !startError && (
        <p className={styles.muted} role="status">
          {run.queue && run.queue.position > 0
            ? run.queue.etaMs >= 1000
              ? t('container.queued', { position: run.queue.position, eta: formatDuration(run.queue.etaMs, locale) })
              : t('container.queuedSoon', { position: run.queue.position })
            : t('container.starting')}
        </p>
      )}
      {startError && <p className={styles.error} role="alert">{errorText(startError)}</p>}
      {failure && <p className={styles.error} role="alert">{errorText(failure)}</p>}
      {exit && <ExitNotice exit={exit} memoryLimit={limits?.memoryBytes} timeLimitMs={detail?.limits.timeLimitMs} />}
      {status === 'removed' && <p className={styles.muted} role="status">{t('container.removedNote')}</p>}
      {committed && <p className={styles.ok} role="status">{t('container.committed', { image: committed })}</p>}

      {/* A container whose command could not start has no terminal to show. */}
      {containerId && status !== 'removed' && !startError && renderTerminal && <div className={styles.terminal}>{renderTerminal(containerId)}</div>}

      {containerId && status !== 'removed' && (
        <div className={styles.body}>
          <div className={styles.col}>
            <FilesystemStack detail={detail} history={history} changes={diff?.changes.length ?? 0} writableBytes={writableBytes} />
          </div>
          <div className={styles.col}>
            <ChangesList diff={diff} />
            {!startError && <Usage stats={stats} limits={limits} />}
          </div>
        </div>
      )}
      {containerId && status !== 'removed' && (
        <form className={styles.commit} onSubmit={onCommit}>
          <label className={styles.field}>
            <span>{t('container.commitTag')}</span>
            <input value={commitTag} onChange={(e) => setCommitTag(e.target.value)} placeholder={`${name}:v1`} spellCheck={false} autoCapitalize="off" maxLength={128} />
          </label>
          <button type="submit" className={styles.button} disabled={busy !== null}>{t('container.commit')}</button>
        </form>
      )}
    </section>
  );
}

/** A limit an operator set, in its round unit: 8 s, 30 min, 4 h. */
function formatTimeLimit(ms: number, locale: Locale): string {
  const s = Math.round(ms / 1000);
  const [n, en, ko] = s >= 3600 && s % 3600 === 0 ? [s / 3600, 'h', '시간'] : s >= 60 && s % 60 === 0 ? [s / 60, 'min', '분'] : [s, 's', '초'];
  return locale === 'ko' ? `${n}${ko}` : `${n}${NBSP}${en}`;
}

function ExitNotice({ exit, memoryLimit, timeLimitMs }: { exit: ContainerExit; memoryLimit: number | undefined; timeLimitMs: number | undefined }) {
  const t = useT(messages);
  const { locale } = useLocale();
  const code = exit.exitCode;
  if (exit.oomKilled) {
    return (
      <p className={`${styles.notice} ${styles.noticeDanger}`} role="alert">
        {memoryLimit ? t('container.oom', { limit: formatBinaryBytes(memoryLimit, locale), code }) : t('container.oomShort', { code })}
      </p>
    );
  }
  if (exit.timedOut) {
    return (
      <p className={`${styles.notice} ${styles.noticeWarn}`} role="alert">
        {timeLimitMs ? t('container.timedOut', { limit: formatTimeLimit(timeLimitMs, locale), code }) : t('container.timedOutShort', { code })}
      </p>
    );
  }
  return (
    <p className={styles.notice} role="status">
      {exit.signal ? t('container.exitedSignal', { code, signal: exit.signal }) : t('container.exited', { code })}
    </p>
  );
}

type Detail = NonNullable<ReturnType<typeof readInspect>>;
type History = NonNullable<ReturnType<typeof readHistory>>['rows'];

/** The container's filesystem, top to bottom: its writable layer over the image's read-only ones. */
function FilesystemStack({ detail, history, changes, writableBytes }: { detail: Detail | undefined; history: History | undefined; changes: number; writableBytes: number | undefined }) {
  const t = useT(messages);
  const { locale } = useLocale();
  const madeBy = new Map((history ?? []).filter((r) => r.layerIndex !== null).map((r) => [r.layerIndex!, r.createdBy]));
  const layers = [...(detail?.layers ?? [])].reverse();
  return (
    <ol className={styles.fsStack} aria-label={t('container.stack')}>
      <li className={styles.writable}>
        <strong>{t('container.writable')}</strong>
        <span className={styles.muted}>
          {writableBytes !== undefined ? t('container.writableFacts', { count: changes, size: formatBytes(writableBytes, locale) }) : t('container.writableCount', { count: changes })}
        </span>
      </li>
      {layers.map((layer) => (
        <li key={layer.index} className={styles.readOnly} style={{ ['--depth' as string]: layer.index }}>
          <span className={styles.layerName}>
            <span>{t('container.imageLayer', { index: layer.index + 1 })}</span>
            <span className={styles.muted}>{formatBytes(layer.sizeBytes, locale)} · {t('container.readOnly')}</span>
          </span>
          {madeBy.has(layer.index) && <code className={styles.madeBy} title={madeBy.get(layer.index)}>{madeBy.get(layer.index)}</code>}
        </li>
      ))}
    </ol>
  );
}

function ChangesList({ diff }: { diff: ContainerDiff | undefined }) {
  const t = useT(messages);
  const changes = [...(diff?.changes ?? [])].sort((a, b) => a.path.localeCompare(b.path));
  const shown = changes.slice(0, CHANGES_SHOWN);
  return (
    <div className={styles.changes}>
      <h4 className={styles.subhead}>{t('container.changes')}</h4>
      {shown.length === 0 ? (
        <p className={styles.muted}>{t('container.changes.none')}</p>
      ) : (
        <ul className={styles.changeList} aria-label={t('container.changes')}>
          {shown.map((c) => (
            <li key={`${c.kind}${c.path}`}>
              <span className={`${styles.kind} ${styles[`kind${c.kind}`]}`} aria-hidden="true">{c.kind}</span>
              <span className="visually-hidden">{t(`change.${c.kind}`)}: </span>
              <code>{c.path}</code>
            </li>
          ))}
        </ul>
      )}
      {(changes.length > shown.length || diff?.truncated) && (
        <p className={styles.muted}>{t('container.changes.more', { count: Math.max(0, changes.length - shown.length) })}</p>
      )}
    </div>
  );
}

function Usage({ stats, limits }: { stats: ContainerStatsView | undefined; limits: { memoryBytes: number; pidsMax: number; cpus: number } | undefined }) {
  const t = useT(messages);
  const { locale } = useLocale();
  if (!limits) return null;
  const memLimit = stats?.memoryLimitBytes || limits.memoryBytes;
  const pidsLimit = stats?.pidsLimit || limits.pidsMax;
  const cpuMax = limits.cpus * 100;
  return (
    <div className={styles.usage} role="group" aria-label={t('container.usage')}>
      <Meter
        label={t('container.memory')}
        value={stats?.memoryBytes ?? 0}
        max={memLimit}
        text={t('container.memoryValue', { used: stats ? formatBinaryBytes(stats.memoryBytes, locale) : '–', limit: formatBinaryBytes(memLimit, locale) })}
      />
      <Meter label={t('container.pids')} value={stats?.pids ?? 0} max={pidsLimit} text={t('container.pidsValue', { used: stats ? stats.pids : '–', limit: pidsLimit })} />
      <Meter
        label={t('container.cpu')}
        value={stats?.cpuPercent ?? 0}
        max={cpuMax}
        text={t('container.cpuValue', { percent: stats ? Math.round(stats.cpuPercent) : '–', limit: Math.round(cpuMax) })}
      />
    </div>
  );
}

function Meter({ label, value, max, text }: { label: string; value: number; max: number; text: string }) {
  const fraction = max > 0 ? Math.min(1, value / max) : 0;
  const level = fraction >= 0.9 ? styles.meterHigh : fraction >= 0.7 ? styles.meterMid : '';
  return (
    <div className={styles.meterRow}>
      <span className={styles.meterLabel}>{label}</span>
      <div role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={max} aria-valuenow={Math.min(value, max)} aria-valuetext={text} className={styles.meter}>
        <div className={`${styles.meterFill} ${level}`} style={{ width: `${fraction * 100}%` }} />
      </div>
      <span className={styles.meterText}>{text}</span>
    </div>
  );
}
