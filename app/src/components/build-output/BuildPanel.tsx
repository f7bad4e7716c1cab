'use client';
// The Build panel: the Build button, the queue position while the job waits, the build's
// output streaming into a read-only terminal, a learner error with its line, and the layer
// stack growing as steps commit. Everything drawn here comes from the run store.
import { useMemo, useState, type FormEvent } from 'react';
import type { ErrorPayload } from '../../../../protocol/errors';
import { useErrorText, useLocale, useT } from '../../lib/i18n/client';
import type { BuildView } from '../../lib/run-store';
import { formatDuration, shortId } from '../layers/format';
import { LayerStack } from '../layers/LayerStack';
import { useBuildRun, usePlaySession } from '../session/PlaySession';
import { BuildOutput } from './BuildOutput';
import type { BuildOutputText } from './BuildXterm';
import { messages } from './messages';
import styles from './build-output.module.css';

export interface BuildPanelProps {
  /** Called before the build is asked for, e.g. to save the editor's unsaved changes. */
  beforeBuild?: () => Promise<unknown> | void;
  /** Which workspace file is the Dockerfile. */
  dockerfilePath?: string;
  /** Shows a Dockerfile line in the editor (for a learner error's line). */
  onShowLine?: (line: number) => void;
}

export function BuildPanel({ beforeBuild, dockerfilePath = 'Dockerfile', onShowLine }: BuildPanelProps) {
  const t = useT(messages);
  const { locale } = useLocale();
  const errorText = useErrorText();
  const { build: startBuild, connected, buildRunId } = usePlaySession();
  const run = useBuildRun();
  const build = run?.build ?? null;
  const [tag, setTag] = useState('app');
  const [noCache, setNoCache] = useState(false);
  const [asking, setAsking] = useState(false);
  const [refused, setRefused] = useState<ErrorPayload | null>(null);

  const busy = asking || (run !== null && run.outcome === null && (build === null || build.status === 'running'));

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    setAsking(true);
    setRefused(null);
    try {
      await beforeBuild?.();
      const tags = tag.trim() ? [tag.trim()] : [];
      setRefused(await startBuild({ dockerfilePath, tags, noCache }));
    } finally {
      setAsking(false);
    }
  }

  const outputText = useMemo<BuildOutputText>(
    () => ({
      step: (s) => t('buildPanel.out.step', { step: s.step, total: s.total, instruction: s.instruction }),
      finished: (b) => t('buildPanel.out.finished', { image: imageName(b), duration: formatDuration(b.durationMs ?? 0, locale) }),
      failed: () => t('buildPanel.out.failed'),
    }),
    [t, locale],
  );

  const error = refused ?? build?.error ?? (run?.outcome && !run.outcome.ok && build?.status !== 'failed' ? run.outcome.error : null);
  const errorLine = error?.kind === 'learner' ? error.line : undefined;

  return (
    <section className={styles.panel} aria-labelledby="build-heading">
      <form className={styles.bar} onSubmit={onSubmit}>
        <h2 id="build-heading" className="visually-hidden">{t('buildPanel.title')}</h2>
        <button type="submit" className={styles.primary} disabled={busy || !connected} aria-describedby="build-status">
          {t('buildPanel.build')}
        </button>
        <label className={styles.field}>
          <span>{t('buildPanel.tag')}</span>
          <input value={tag} onChange={(e) => setTag(e.target.value)} spellCheck={false} autoCapitalize="off" maxLength={128} />
        </label>
        <label className={styles.check}>
          <input type="checkbox" checked={noCache} onChange={(e) => setNoCache(e.target.checked)} />
          <span>{t('buildPanel.noCache')}</span>
        </label>
      </form>

      <p id="build-status" className={styles.status} role="status" aria-live="polite">
        {!connected ? t('buildPanel.offline') : statusText()}
      </p>

      {error && (
        <div className={styles.error} role="alert">
          <p>{errorText(error)}</p>
          {errorLine !== undefined && onShowLine && (
            <button type="button" className={styles.link} onClick={() => onShowLine(errorLine)}>
              {t('buildPanel.showLine', { line: errorLine })}
            </button>
          )}
        </div>
      )}

      <div className={styles.output}>
        <BuildOutput runId={buildRunId} build={build} text={outputText} label={t('buildPanel.output')} />
      </div>

      <LayerStack run={run} />
    </section>
  );

  function statusText(): string {
    if (asking && !run) return t('buildPanel.starting');
    if (!run) return t('buildPanel.idle');
    if (run.queue && run.queue.position > 0) {
      return run.queue.etaMs >= 1000
        ? t('buildPanel.queued', { position: run.queue.position, eta: formatDuration(run.queue.etaMs, locale) })
        : t('buildPanel.queuedSoon', { position: run.queue.position });
    }
    if (!build) return run.outcome && !run.outcome.ok ? t('buildPanel.failed') : t('buildPanel.starting');
    if (build.status === 'finished') {
      return t('buildPanel.finished', { image: imageName(build), duration: formatDuration(build.durationMs ?? 0, locale), cached: build.cachedSteps ?? 0, total: build.totalSteps });
    }
    if (build.status === 'failed') {
      const line = build.error?.kind === 'learner' ? build.error.line : build.steps.find((s) => s.step === build.failedStep)?.line;
      return line !== undefined ? t('buildPanel.failedAt', { line }) : t('buildPanel.failed');
    }
    const current = build.steps.at(-1);
    return current ? t('buildPanel.step', { step: current.step, total: build.totalSteps, instruction: current.instruction }) : t('buildPanel.starting');
  }
}

function imageName(build: BuildView): string {
  return build.tags[0] ?? shortId(build.imageId ?? '');
}
