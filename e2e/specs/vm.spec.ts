// Issue 16 (e): the built image booted as a VM beside its container. The VM pane names the
// accelerator (KVM, or TCG and why it is slow), the guest's kernel beside the host's, the boot
// split into qemu, kernel and init; the serial console is the same terminal widget a
// container's is: typing reaches the guest's shell, and `exit 3` powers it off with 3.
import { expect, test } from '@playwright/test';
import { product } from '../harness/env.js';
import { Play } from '../harness/play.js';

test('the built image boots as a VM: its own kernel and init, the boot split, and `exit 3` in its terminal powers it off', async ({ context }) => {
  test.setTimeout(420_000);
  const play = await Play.open(context, product.apps[0]!, 'en', 'vm');
  await play.typeDockerfile('FROM busybox\nCMD ["sh"]');
  await play.build();

  await play.page.getByRole('tab', { name: 'VM', exact: true }).click();
  const vm = play.page.getByRole('region', { name: 'Virtual machine', exact: true });
  await vm.getByRole('button', { name: 'Boot as VM' }).click();
  // KVM or TCG, said in words (this host: TCG, its nested KVM hangs).
  await expect(vm.getByText(/^(KVM|TCG) · /)).toBeVisible({ timeout: 120_000 });
  await expect(vm.getByText(/Guest kernel \S+-amd64; this host runs \S+/)).toBeVisible({ timeout: 240_000 });
  await expect(vm.getByRole('img', { name: /Ready in \d+ ms: qemu and loading the kernel \d+ ms, the kernel’s boot \d+ ms, init \d+ ms/ })).toBeVisible({ timeout: 240_000 });
  await play.shot('vm-booted');

  await expect(play.terminal(vm)).toBeVisible();
  // The guest's shell: its kernel is not the host's, its PID 1 is the VM's init (a container's is its command).
  const kernel = (await vm.getByText(/Guest kernel/).textContent())!.match(/Guest kernel (\S+);/)![1]!;
  await play.typeInTerminal(vm, 'echo K=$(uname -r) P1=$(cat /proc/1/comm)\n');
  await play.waitForTerminal(vm, new RegExp(`K=${kernel.replace(/[.+]/g, '\\$&')} P1=init`), 120_000);
  await expect(vm.getByText(/qemu holds .* of memory .*a container of the same image uses \d/)).toBeVisible({ timeout: 60_000 });
  await play.shot('vm-shell');

  await play.typeInTerminal(vm, 'exit 3\n');
  await expect(vm.getByRole('status').first()).toHaveText('Powered off, exit code 3', { timeout: 120_000 });
  await expect(vm.getByText('The VM powered off; its command exited with 3.')).toBeVisible();
  await play.shot('vm-powered-off');
});
