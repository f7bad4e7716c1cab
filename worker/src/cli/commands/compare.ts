// compare IMAGE: the seed's table live (worker/src/vm/compare.ts): the same benchmarks on the
// host, in a container and in a VM of the image, each machine's figures as ratios to the host's,
// then the line each tool printed, and what TCG means for the VM's column.
import { renderMessage, type Locale } from '../../../../protocol/errors.js';
import type { MessageKey } from '../../../../protocol/i18n.js';
import { table } from '../format.js';
import type { Program } from './shared.js';

export function registerCompare(program: Program): void {
  const t = program.t;
  program
    .command('compare')
    .description(t('compare'))
    .option('--json', t('compare.json'))
    .argument('<image>')
    .action(
      program.verb(async (ctx, image: string, f: { json?: boolean }) => {
        const { store, images, idRanges, containers } = await ctx.engine();
        const { compareMachines } = await import('../../vm/compare.js');
        const say = (text: string) => process.stderr.write(`\x1b[2m${text}\x1b[0m\n`);
        const m = (key: MessageKey, facts: Record<string, string | number> = {}) => renderMessage(key, facts, ctx.locale);
        const result = await compareMachines(
          {
            store,
            containers,
            vmHost: { dataDir: ctx.dataDir, idRanges, log: ctx.log },
            onMachine: (machine, phase, run) => {
              if (phase === 'start') say(`[compare] ${m(`compare.machine.${machine}`)} …`);
              else say(`[compare] ${m(`compare.machine.${machine}`)}: ${((run?.ms ?? 0) / 1000).toFixed(1)} s${run?.error ? ` (${run.error})` : ''}`);
            },
          },
          await images.resolve(image),
          image,
        );
        if (f.json) {
          process.stdout.write(JSON.stringify(result, null, 2) + '\n');
          return;
        }
        process.stdout.write(renderCompare(result, ctx.locale));
      }),
    );
}

type Result = Awaited<ReturnType<(typeof import('../../vm/compare.js'))['compareMachines']>>;

function figure(value: number | null, ratio: number | null): string {
  if (value === null) return '—';
  const n = value >= 100 ? value.toFixed(0) : value.toFixed(1);
  return ratio === null ? n : `${n} (${ratio.toFixed(2)}×)`;
}

/** The table, the raw lines, and the notes, in the learner's language. */
export function renderCompare(result: Result, locale: Locale): string {
  const m = (key: MessageKey, facts: Record<string, string | number> = {}) => renderMessage(key, facts, locale);
  const out: string[] = [m('compare.heading', { image: result.image }), ''];
  if (result.substituted) out.push(m('compare.substituted', { image: result.image, ranImage: result.ranImage }), '');
  const header = [
    m('compare.benchmark'),
    m('compare.unit'),
    m('compare.machine.host'),
    m('compare.machine.container'),
    `${m('compare.machine.vm')} (${result.accel.toUpperCase()})`,
  ];
  const rows = result.rows.map((r) => [
    `${m(`compare.metric.${r.metric}`)} (${r.tool})`,
    r.unit,
    figure(r.host, null),
    figure(r.container, r.containerRatio),
    figure(r.vm, r.vmRatio),
  ]);
  out.push(table(header, rows));
  out.push(m('compare.raw'));
  for (const run of result.runs) {
    for (const [metric, f] of Object.entries(run.figures)) {
      const what = `  ${m(`compare.machine.${run.machine}`)} · ${m(`compare.metric.${metric as Result['rows'][number]['metric']}`)}: `;
      if (f.value !== null) out.push(what + f.raw);
      else out.push(what + m('compare.missing', { machine: m(`compare.machine.${run.machine}`), metric: m(`compare.metric.${metric as Result['rows'][number]['metric']}`), why: f.missing ?? '?' }) + (f.raw ? ` ${f.raw.split('\n').join(' / ')}` : ''));
    }
  }
  out.push('', m(result.accel === 'tcg' ? 'compare.tcg' : 'compare.kvm'), '');
  return out.join('\n');
}
