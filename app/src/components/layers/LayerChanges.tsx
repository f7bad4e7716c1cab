'use client';
// The files one layer adds, changes and deletes (runs:image layer-changes), as `docker diff`
// letters with the words beside them for screen readers.
import { useEffect, useState } from 'react';
import type { ErrorPayload } from '../../../../protocol/errors';
import { useErrorText, useLocale, useT } from '../../lib/i18n/client';
import { formatBytes } from '../../lib/i18n/units';
import type { DiffChange, StepView } from '../../lib/run-store';
import { readLayerChanges } from '../session/engine-results';
import { usePlaySession } from '../session/PlaySession';
import { messages } from './messages';
import styles from './layers.module.css';

type FileChange = DiffChange & { sizeBytes: number };
type Loaded = { state: 'loading' } | { state: 'done'; changes: FileChange[]; total: number; truncated: boolean } | { state: 'error'; error: ErrorPayload };

export function LayerChanges({ step, imageId, onClose }: { step: StepView; imageId: string | null; onClose: () => void }) {
  const t = useT(messages);
  const errorText = useErrorText();
  const { locale } = useLocale();
  const { imageOp } = usePlaySession();
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  const diffId = step.layer?.diffId;

  useEffect(() => {
    if (!diffId || !imageId) return;
    let current = true;
    setLoaded({ state: 'loading' });
    void imageOp({ op: 'layer-changes', image: imageId, layer: diffId }).then((reply) => {
      if (!current) return;
      const read = reply.ok ? readLayerChanges(reply.result) : null;
      if (read) setLoaded({ state: 'done', changes: read.changes, total: read.total, truncated: read.truncated });
      else if (!reply.ok) setLoaded({ state: 'error', error: reply.error });
      else setLoaded({ state: 'done', changes: [], total: 0, truncated: false });
    });
    return () => {
      current = false;
    };
  }, [diffId, imageId, imageOp]);

  return (
    <section className={styles.changes} aria-labelledby="layer-changes-heading">
      <div className={styles.changesHead}>
        <h3 id="layer-changes-heading">{t('layers.changes.title', { step: step.step })}</h3>
        <button type="button" className={styles.close} onClick={onClose}>{t('layers.changes.close')}</button>
      </div>
      {!step.layer ? (
        <p className={styles.empty}>{t('layers.configOnly')}</p>
      ) : !imageId ? (
        <p className={styles.empty}>{t('layers.changes.notYet')}</p>
      ) : loaded.state === 'loading' ? (
        <p className={styles.empty} role="status">{t('layers.changes.loading')}</p>
      ) : loaded.state === 'error' ? (
        <p className={styles.error} role="alert">{errorText(loaded.error)}</p>
      ) : loaded.changes.length === 0 ? (
        <p className={styles.empty}>{t('layers.changes.empty')}</p>
      ) : (
        <>
          <ul className={styles.files} aria-label={t('layers.changes.list')}>
            {loaded.changes.map((c) => (
              <li key={`${c.kind}${c.path}`}>
                <span className={`${styles.kind} ${styles[`kind${c.kind}`]}`} aria-hidden="true">{c.kind}</span>
                <span className="visually-hidden">{t(`change.${c.kind}`)}: </span>
                <code className={styles.path}>{c.path}</code>
                {c.kind !== 'D' && c.sizeBytes > 0 && <span className={styles.fileSize}>{formatBytes(c.sizeBytes, locale)}</span>}
              </li>
            ))}
          </ul>
          {loaded.truncated && <p className={styles.empty}>{t('layers.changes.truncated', { count: loaded.changes.length, total: loaded.total })}</p>}
        </>
      )}
    </section>
  );
}
