'use client';
// Tabs after the WAI-ARIA pattern: one tab stop, arrow keys move and select. Every panel stays
// mounted (hidden, not removed), so terminals and subscriptions live on behind other tabs.
import { useId, useRef, type KeyboardEvent, type ReactNode } from 'react';
import styles from './playground.module.css';

export interface TabSpec {
  id: string;
  label: string;
  content: ReactNode;
}

export function Tabs({ label, tabs, selected, onSelect }: { label: string; tabs: TabSpec[]; selected: string; onSelect(id: string): void }) {
  const base = useId();
  const refs = useRef<Record<string, HTMLButtonElement | null>>({});
  const onKey = (e: KeyboardEvent) => {
    const index = tabs.findIndex((t) => t.id === selected);
    const to = e.key === 'ArrowRight' ? index + 1 : e.key === 'ArrowLeft' ? index - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? tabs.length - 1 : null;
    if (to === null) return;
    e.preventDefault();
    const next = tabs[(to + tabs.length) % tabs.length];
    if (!next) return;
    onSelect(next.id);
    refs.current[next.id]?.focus();
  };
  return (
    <div className={styles.tabs}>
      <div role="tablist" aria-label={label} className={styles.tablist} onKeyDown={onKey}>
        {tabs.map((tab) => (
          <button
            key={tab.id}
            ref={(el) => {
              refs.current[tab.id] = el;
            }}
            type="button"
            role="tab"
            id={`${base}-tab-${tab.id}`}
            aria-controls={`${base}-panel-${tab.id}`}
            aria-selected={tab.id === selected}
            tabIndex={tab.id === selected ? 0 : -1}
            className={styles.tab}
            onClick={() => onSelect(tab.id)}
          >
            {tab.label}
          </button>
        ))}
      </div>
      {tabs.map((tab) => (
        <div
          key={tab.id}
          role="tabpanel"
          id={`${base}-panel-${tab.id}`}
          aria-labelledby={`${base}-tab-${tab.id}`}
          hidden={tab.id !== selected}
          className={styles.tabpanel}
        >
          {tab.content}
        </div>
      ))}
    </div>
  );
}
