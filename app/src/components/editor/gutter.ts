// The gutter ties each Dockerfile line to its layer: the line where a build step's instruction
// starts gets a mark (cached, built, building, failed) and, after the line's text, the layer's
// size and state. A click on either selects that step's layer in the layer stack. Pure: it maps
// the run store's BuildView to decoration specs; the editor hands them to Monaco.
import type { BuildView, StepView } from '../../lib/run-store';
import type { Locale } from '../../lib/i18n/locale';
import { translator } from '../../lib/i18n/translate';
import { formatBytes } from '../../lib/i18n/units';
import { messages } from './messages';

export type StepMark = 'cached' | 'built' | 'running' | 'failed' | 'from';

export interface LineAnnotation {
  line: number;
  step: number;
  mark: StepMark;
  /** Shown after the line's text. */
  note: string;
  /** The hover over the mark (markdown). */
  hover: string;
  selected: boolean;
}

export function markOf(step: StepView): StepMark {
  if (step.status === 'failed') return 'failed';
  if (step.status === 'running') return 'running';
  if (step.isFrom) return 'from';
  return step.cacheHit ? 'cached' : 'built';
}

export function lineAnnotations(build: BuildView | null, selectedStep: number | null, locale: Locale): LineAnnotation[] {
  if (!build) return [];
  const t = translator(messages, locale);
  const stateText: Record<StepMark, string> = {
    cached: t('editor.layer.cached'),
    built: t('editor.layer.built'),
    running: t('editor.layer.running'),
    failed: t('editor.layer.failed'),
    from: t('editor.layer.from'),
  };
  // Multi-stage builds can repeat a line number only if the file changed; the newest step wins.
  const byLine = new Map<number, StepView>();
  for (const step of build.steps) byLine.set(step.line, step);
  return [...byLine.values()]
    .sort((a, b) => a.line - b.line)
    .map((step) => {
      const mark = markOf(step);
      const state = step.layer === undefined && (mark === 'built' || mark === 'cached') && step.status === 'done'
        ? `${stateText[mark]} · ${t('editor.layer.noLayer')}`
        : stateText[mark];
      const facts = { step: step.step, total: step.total, state };
      const note = step.layer
        ? t('editor.layer.note', { ...facts, size: formatBytes(step.layer.sizeBytes, locale) })
        : t('editor.layer.noteNoSize', facts);
      const layerFacts = step.layer
        ? t('editor.layer.hoverFacts', {
            size: formatBytes(step.layer.sizeBytes, locale),
            added: step.layer.added,
            changed: step.layer.changed,
            deleted: step.layer.deleted,
          })
        : '';
      const hover = t('editor.layer.hover', { step: step.step, total: step.total, instruction: `\`${step.instruction.slice(0, 120)}\``, facts: layerFacts });
      return { line: step.line, step: step.step, mark, note, hover, selected: step.step === selectedStep };
    });
}
