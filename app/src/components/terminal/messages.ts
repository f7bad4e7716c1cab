import { defineMessages } from '../../lib/i18n/translate';

export const messages = defineMessages({
  en: {
    'terminal.region': 'Terminal',
    'terminal.status.connecting': 'Connecting…',
    'terminal.status.connected': 'Connected',
    'terminal.status.reconnecting': 'Connection lost. Reconnecting…',
    'terminal.status.exited': 'The container exited with code {exitCode}.',
    'terminal.status.failed': 'This terminal cannot connect: {reason}',
    'terminal.copyHint': 'Select text to copy with Ctrl+C (⌘C); paste with Ctrl+V (⌘V) or a right click.',
  },
  ko: {
    'terminal.region': '터미널',
    'terminal.status.connecting': '연결하는 중…',
    'terminal.status.connected': '연결됨',
    'terminal.status.reconnecting': '연결이 끊겼어요. 다시 연결하는 중…',
    'terminal.status.exited': '컨테이너가 코드 {exitCode}(으)로 종료됐어요.',
    'terminal.status.failed': '이 터미널에 연결할 수 없어요: {reason}',
    'terminal.copyHint': '텍스트를 선택하고 Ctrl+C(⌘C)로 복사하고, Ctrl+V(⌘V)나 마우스 오른쪽 버튼으로 붙여 넣으세요.',
  },
});
