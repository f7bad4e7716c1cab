// vm run: the image booted as a virtual machine with Debian's kernel (worker/src/vm/), its
// serial console joined to this terminal like `run -it` joins a container's. The VM lives as
// long as this process: Ctrl-C is a key for the guest; `exit` in the guest ends it with its status.
import { readFileSync } from 'node:fs';
import { renderMessage } from '../../../../protocol/errors.js';
import type { MessageKey } from '../../../../protocol/i18n.js';
import type { HelpText } from '../help-text.js';
import { parseBytes, parsePositive } from '../options.js';
import { relayInput, relayOutput } from '../terminal.js';
import type { Program } from './shared.js';

interface VmFlags {
  interactive?: boolean;
  tty?: boolean;
  memory?: string;
  cpus?: string;
  timeout?: string;
}

export function registerVm(program: Program): void {
  const t: HelpText = program.t;
  const vm = program.command('vm').description(t('vm'));
  vm.command('run')
    .description(t('vm.run'))
    .option('-i, --interactive', t('run.interactive'))
    .option('-t, --tty', t('run.tty'))
    .option('-m, --memory <bytes>', t('vm.memory'))
    .option('--cpus <n>', t('vm.cpus'))
    .option('--timeout <seconds>', t('vm.timeout'))
    .argument('<image>')
    .argument('[command...]')
    .passThroughOptions()
    .action(
      program.verb(async (ctx, image: string, command: string[], f: VmFlags) => {
        const { store, images, idRanges } = await ctx.engine();
        const { vmOfImage } = await import('../../vm/image-run.js');
        const { defaultVmLimits, startVm } = await import('../../vm/vm.js');
        const { image: vmImage, settings } = await vmOfImage(store, await images.resolve(image), command);
        const tty = Boolean(f.tty && process.stdout.isTTY);
        const size = tty ? { rows: process.stdout.rows, cols: process.stdout.columns } : {};
        const say = (key: MessageKey, facts: Record<string, string | number> = {}) => process.stderr.write(`\x1b[2m[vm] ${renderMessage(key, facts, ctx.locale)}\x1b[0m\n`);
        const limits = {
          memoryBytes: f.memory ? parseBytes('--memory', f.memory) : defaultVmLimits.memoryBytes,
          cpus: f.cpus ? Math.min(2, Math.ceil(parsePositive('--cpus', f.cpus, false))) : defaultVmLimits.cpus,
          timeoutMs: f.timeout ? parsePositive('--timeout', f.timeout) * 1000 : defaultVmLimits.timeoutMs,
        };
        const running = await startVm({ dataDir: ctx.dataDir, idRanges, log: ctx.log }, vmImage, { ...settings, ...size }, limits, {
          booting: (b) => {
            say('vm.booting', { image, kernel: b.kernelPackage, accel: b.accel.toUpperCase() });
            say(b.accel === 'kvm' ? 'vm.accel.kvm' : 'vm.accel.tcg');
          },
          kernel: (release) => say('vm.kernel', { release, hostRelease: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim() }),
          ready: (b) => say('vm.ready', { ...b }),
        });
        relayOutput(running.terminal);
        const input = relayInput(
          { write: (d) => running.terminal.write(d), resize: (r, c) => running.terminal.resize(r, c), endInput: () => running.terminal.closeInput() },
          { tty, interactive: Boolean(f.interactive) },
        );
        const end = await running.ended;
        input.stop();
        const seconds = Math.round((end.reason === 'boot-timeout' ? (end.limitMs ?? 0) : limits.timeoutMs) / 1000);
        if (end.reason === 'timeout') say('vm.timeout', { seconds });
        else if (end.reason === 'boot-timeout') say('vm.bootTimeout', { seconds, accel: running.accel.toUpperCase() });
        else if (end.reason === 'crashed') say('vm.crashed', { detail: end.detail ?? '' });
        else if (end.reason === 'killed') say('vm.killed');
        return end.exitCode;
      }),
    );
}

