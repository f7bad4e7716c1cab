'use client';
// Containers from the built image: the Run button, then one pane per container, side by side
// (two columns where there is room), each with its terminal, its filesystem drawn as the
// image's read-only layers under its own writable layer, its live diff and its use of the
// limits.
import { useEffect, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import type { ErrorPayload } from '../../../../protocol/errors';
import { useErrorText, useT } from '../../lib/i18n/client';
import { shortId } from '../layers/format';
import { useBuildRun, usePlaySession } from '../session/PlaySession';
import { ContainerPane } from './ContainerPane';
import { messages } from './messages';
import styles from './container.module.css';

/** Two panes of at least ~390 px each (each stacks its own columns when narrow). */
const SIDE_BY_SIDE_MIN_PX = 800;

export interface ContainerPanelProps {
  /** The interactive terminal of a container (the terminal widget), drawn inside its pane. */
  renderTerminal?: (containerId: string) => ReactNode;
  /** The image to run; by default the one the latest build made. */
  image?: string;
}

export function ContainerPanel({ renderTerminal, image }: ContainerPanelProps) {
  const t = useT(messages);
  const errorText = useErrorText();
  const { run, runs, containerRuns, connected } = usePlaySession();
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

  // Side by side where two panes fit; otherwise one at a time, chosen with tabs (all stay
  // mounted, so a hidden container's terminal keeps its connection and scrollback).
  const panesRef = useRef<HTMLDivElement>(null);
  const [wide, setWide] = useState(false);
  useEffect(() => {
    const el = panesRef.current;
    if (!el) return;
    const observer = new ResizeObserver(([entry]) => setWide((entry?.contentRect.width ?? 0) >= SIDE_BY_SIDE_MIN_PX));
    observer.observe(el);
    return () => observer.disconnect();
  }, [containerRuns.length > 0]);
  const [active, setActive] = useState<string | null>(null);
  const newest = containerRuns.at(-1) ?? null;
  useEffect(() => setActive(newest), [newest]);
  const current = active !== null && containerRuns.includes(active) ? active : newest;
  const tabs = !wide && containerRuns.length > 1;

  function onTabKey(e: KeyboardEvent) {
    const i = containerRuns.indexOf(current ?? '');
    const next = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? containerRuns.length - 1 : null;
    if (next === null) return;
    e.preventDefault();
    const runId = containerRuns[(next + containerRuns.length) % containerRuns.length]!;
    setActive(runId);
    document.getElementById(`pane-tab-${runId}`)?.focus();
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
        <div ref={panesRef}>
          {tabs && (
            <div role="tablist" aria-label={t('container.panes')} className={styles.paneTabs} onKeyDown={onTabKey}>
              {containerRuns.map((runId) => {
                const view = Object.values(runs[runId]?.containers ?? {})[0];
                return (
                  <button
                    key={runId}
                    id={`pane-tab-${runId}`}
                    type="button"
                    role="tab"
                    aria-selected={runId === current}
                    aria-controls={`pane-${runId}`}
                    tabIndex={runId === current ? 0 : -1}
                    className={styles.paneTab}
                    onClick={() => setActive(runId)}
                  >
                    <span className={styles.tabDot} data-status={view?.status} aria-hidden="true" />
                    {view?.name ?? '…'}
                  </button>
                );
              })}
            </div>
          )}
          <div className={tabs ? undefined : styles.panes}>
            {containerRuns.map((runId) => (
              <div
                key={runId}
                id={`pane-${runId}`}
                {...(tabs ? { role: 'tabpanel', 'aria-labelledby': `pane-tab-${runId}`, hidden: runId !== current } : {})}
                className={styles.paneSlot}
              >
                <ContainerPane runId={runId} renderTerminal={renderTerminal} visible={!tabs || runId === current} />
              </div>
            ))}
          </div>
        </div>
      )}
    </section>
  );
}
