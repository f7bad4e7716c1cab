'use client';
// The layer stack of a build: one row per step, in Dockerfile order, growing as the events
// arrive. A row says what the step ran and where (its line), what it wrote (size, files added,
// changed, deleted), how long it took, and whether the cache was used, with the reason in words.
// Clicking a layer (or the editor's gutter, through the shared selection) lists its files.
import { useEffect, useRef, useState } from 'react';
import { useLocale, useT } from '../../lib/i18n/client';
import { stepDurationMs, type RunState, type StepView } from '../../lib/run-store';
import { usePlaySession } from '../session/PlaySession';
import { formatBytes } from '../../lib/i18n/units';
import { cacheReasonText } from './cache-reason';
import { formatDuration } from './format';
import { LayerChanges } from './LayerChanges';
import { messages } from './messages';
import styles from './layers.module.css';

export function LayerStack({ run }: { run: RunState | null }) {
  const t = useT(messages);
  const { session, selectLayer } = usePlaySession();
  const build = run?.build ?? null;
  const selection = run && session.selection?.runId === run.runId ? session.selection.step : null;

  return (
    <section className={styles.stack} aria-labelledby="layers-heading">
      <h2 id="layers-heading" className={styles.heading}>{t('layers.title')}</h2>
      {build === null || build.steps.length === 0 ? (
        <p className={styles.empty}>{t('layers.empty')}</p>
      ) : (
        <ol className={styles.list} aria-label={t('layers.title')}>
          {build.steps.map((step) => (
            <LayerRow
              key={step.step}
              step={step}
              selected={step.step === selection}
              imageId={build.imageId ?? null}
              onSelect={() => selectLayer(step.step === selection ? null : { runId: run!.runId, step: step.step })}
              onClose={() => selectLayer(null)}
            />
          ))}
        </ol>
      )}
    </section>
  );
}

interface LayerRowProps {
  step: StepView;
  selected: boolean;
  imageId: string | null;
  onSelect: () => void;
  onClose: () => void;
}

function LayerRow({ step, selected, imageId, onSelect, onClose }: LayerRowProps) {
  const t = useT(messages);
  const { locale } = useLocale();
  const ref = useRef<HTMLLIElement>(null);
  // Selected from the editor's gutter: bring it into view without taking the keyboard away.
  useEffect(() => {
    if (selected) ref.current?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }, [selected]);

  const now = useNowWhile(step.status === 'running');
  const ms = stepDurationMs(step) ?? (step.status === 'running' ? Math.max(0, now - Date.parse(step.startedAt)) : null);
  const badge = step.status === 'running'
    ? { text: t('layers.running'), cls: styles.running }
    : step.status === 'failed'
      ? { text: t('layers.failed'), cls: styles.failed }
      : step.isFrom
        ? { text: t('layers.base'), cls: styles.base }
        : step.cacheHit
          ? { text: t('layers.cached'), cls: styles.cached }
          : { text: t('layers.rebuilt'), cls: styles.built };

  const facts = step.layer ? (
    <span className={styles.facts}>
      <span>{t('layers.size', { size: formatBytes(step.layer.sizeBytes, locale) })}</span>
      <span aria-label={t('layers.files', { added: step.layer.added, changed: step.layer.changed, deleted: step.layer.deleted })} className={styles.counts}>
        <span className={styles.added}>+{step.layer.added}</span>{' '}
        <span className={styles.changed}>~{step.layer.changed}</span>{' '}
        <span className={styles.deleted}>−{step.layer.deleted}</span>
      </span>
      {ms !== null && <span>{t('layers.duration', { duration: formatDuration(ms, locale) })}</span>}
    </span>
  ) : (
    <span className={styles.facts}>
      {!step.isFrom && step.status !== 'running' && step.status !== 'failed' && step.cacheHit !== true && <span>{t('layers.configOnly')}</span>}
      {ms !== null && !step.isFrom && (
        <span>{t(step.status === 'running' ? 'layers.elapsed' : 'layers.duration', { duration: formatDuration(ms, locale) })}</span>
      )}
    </span>
  );

  const body = (
    <>
      <span className={styles.top}>
        <span className={`${styles.badge} ${badge.cls}`}>{badge.text}</span>
        <code className={styles.instruction} id={`layer-${step.seq}-instruction`} title={step.instruction}>{step.instruction}</code>
        <span className={styles.line}>{t('layers.line', { line: step.line })}</span>
      </span>
      {facts}
    </>
  );

  return (
    <li ref={ref} className={`${styles.row} ${selected ? styles.selected : ''}`} data-status={step.status}>
      {step.layer ? (
        // Named for what it does; the instruction describes it (and a name holding "RUN" would
        // collide with the Run button for anyone finding buttons by name).
        <button
          type="button"
          className={styles.rowButton}
          aria-pressed={selected}
          onClick={onSelect}
          aria-label={t('layers.showFiles', { step: step.step })}
          aria-describedby={`layer-${step.seq}-instruction`}
        >
          {body}
        </button>
      ) : (
        <div className={styles.rowButton}>{body}</div>
      )}
      {step.reason && !step.isFrom && <p className={styles.reason}>{cacheReasonText(step.reason, locale)}</p>}
      {selected && <LayerChanges step={step} imageId={imageId} onClose={onClose} />}
    </li>
  );
}

/** The clock, ticking each second while a step runs (its elapsed time grows on screen). */
function useNowWhile(running: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [running]);
  return now;
}
