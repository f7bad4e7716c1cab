import { defineMessages } from '../../lib/i18n/translate';

export const messages = defineMessages({
  en: {
    'vm.panel': 'Virtual machine',
    'vm.intro': 'The same image booted as a real VM: its own kernel (Debian’s), its own init as PID 1 and its own memory, beside the container that shares this host’s kernel.',
    'vm.boot': 'Boot as VM',
    'vm.needsImage': 'Build an image first, then boot it as a VM.',
    'vm.queued': 'Waiting for a free slot…',
    'vm.booting': 'Booting…',
    'vm.running': 'Running',
    'vm.exitedCode': 'Powered off, exit code {code}',
    'vm.bootSplit': 'Boot time',
    'vm.part.firmware': 'qemu and loading',
    'vm.part.kernel': 'kernel',
    'vm.part.init': 'init',
    'vm.memory': 'Memory',
  },
  ko: {
    'vm.panel': '가상 머신',
    'vm.intro': '같은 이미지를 진짜 가상 머신으로 부팅해요. 자기 커널(데비안 커널), PID 1인 자기 init, 자기 메모리를 가져요. 옆의 컨테이너는 이 호스트의 커널을 같이 써요.',
    'vm.boot': 'VM으로 부팅',
    'vm.needsImage': '먼저 이미지를 빌드하면 가상 머신으로 부팅할 수 있어요.',
    'vm.queued': '빈자리를 기다리는 중…',
    'vm.booting': '부팅하는 중…',
    'vm.running': '실행 중',
    'vm.exitedCode': '꺼졌어요, 종료 코드 {code}',
    'vm.bootSplit': '부팅 시간',
    'vm.part.firmware': 'qemu 시작과 적재',
    'vm.part.kernel': '커널',
    'vm.part.init': 'init',
    'vm.memory': '메모리',
  },
});
