'use client';
// Containers from the built image: the Run button, then one pane per container, side by side
// (two columns where there is room), each with its terminal, its filesystem drawn as the
// image's read-only layers under its own writable layer, its live diff and its use of the
// limits.
import { useState, type ReactNode } from 'react';
import type { ErrorPayload } from '../../../../protocol/errors';
import { useErrorText, useT } from '../../lib/i18n/client';
import { shortId } from '../layers/format';
import { useBuildRun, usePlaySession } from '../session/PlaySession';
import { ContainerPane } from './ContainerPane';
import { messages } from './messages';
import styles from './container.module.css';

export interface ContainerPanelProps {
  /** The interactive terminal of a container (the terminal widget), drawn inside its pane. */
  renderTerminal?: (containerId: string) => ReactNode;
  /** The image to run; by default the one the latest build made. */
  image?: string;
}

export function ContainerPanel({ renderTerminal, image }: ContainerPanelProps) {
  const t = useT(messages);
  const errorText = useErrorText();
  const { run, containerRuns, connected } = usePlaySession();
  const build = useBuildRun()?.build;
  const target = image ?? (build?.status === 'finished' ? (build.tags[0] ?? build.imageId) : undefined);
  const [asking, setAsking] = useState(false);
  const [refused, setRefused] = useState<ErrorPayload | null>(null);

  async function onRun() {
    if (!target || asking) return;
    setAsking(true);
    setRefused(null);
    try {
      setRefused(await run({ image: target, tty: true }));
    } finally {
      setAsking(false);
    }
  }

  const shown = target && target.startsWith('sha256:') ? shortId(target) : target;
  return (
    <section className={styles.panel} aria-labelledby="containers-heading">
      <div className={styles.bar}>
        <h2 id="containers-heading" className="visually-hidden">{t('container.panel')}</h2>
        <button type="button" className={styles.primary} onClick={onRun} disabled={!target || asking || !connected} aria-describedby="run-hint">
          {t('container.run')}
        </button>
        <p id="run-hint" className={styles.hint}>
          {!shown ? t('container.runNeedsImage') : containerRuns.length > 0 ? t('container.another', { image: shown }) : t('container.runHint', { image: shown })}
        </p>
      </div>
      {refused && <p className={styles.error} role="alert">{errorText(refused)}</p>}
      {containerRuns.length > 0 && (
        <div className={styles.panes}>
          {containerRuns.map((runId) => (
            <ContainerPane key={runId} runId={runId} renderTerminal={renderTerminal} />
          ))}
        </div>
      )}
    </section>
  );
}
