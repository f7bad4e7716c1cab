// A VM's serial console as a container's terminal attachment, so the host's terminal relay
// (../terminals/) streams it to the page exactly as it streams a container's: the same output
// offsets, flow control (pausing stops qemu reading the guest's UART) and input. The VM's end
// is the terminal's exit, with the command's status as the guest reported it.
import { EventEmitter } from 'node:events';
import type { Attachment } from '../runtime/container-runtime.js';
import type { Vm } from './vm.js';

export class VmTerminal extends EventEmitter implements Attachment {
  constructor(private readonly vm: Vm) {
    super();
    vm.terminal.on('output', (stream: 'stdout' | 'stderr', data: Buffer) => this.emit('output', stream, data));
    // After the VM's cleanup: the exit the relay records is the one the job returns.
    void vm.ended.then((end) => {
      this.emit('exit', end.exitCode);
      this.emit('close');
    });
  }

  write(data: Buffer | string): void {
    this.vm.terminal.write(data);
  }

  get pendingInputBytes(): number {
    return this.vm.terminal.pendingInputBytes;
  }

  resize(rows: number, cols: number): void {
    this.vm.terminal.resize(rows, cols);
  }

  closeInput(): void {
    this.vm.terminal.closeInput();
  }

  pause(): void {
    this.vm.terminal.pause();
  }

  resume(): void {
    this.vm.terminal.resume();
  }

  /** A VM has no life apart from its terminal's relay (nobody watching, a worker stopping): it ends. */
  detach(): void {
    this.vm.kill();
  }
}
