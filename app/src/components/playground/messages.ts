import { defineMessages } from '../../lib/i18n/translate';

export const messages = defineMessages({
  en: {
    'playground.title': 'Playground',
    'playground.editorArea': 'Editor',
    'playground.noFile': 'Choose a file on the left, or make a new one.',
    'playground.panels': 'Build and run',
    'playground.tab.build': 'Build',
    'playground.tab.run': 'Containers',
    'playground.tab.vm': 'VM',
    'playground.tab.images': 'Images',
  },
  ko: {
    'playground.title': '실습장',
    'playground.editorArea': '편집기',
    'playground.noFile': '왼쪽에서 파일을 고르거나 새 파일을 만드세요.',
    'playground.panels': '빌드와 실행',
    'playground.tab.build': '빌드',
    'playground.tab.run': '컨테이너',
    'playground.tab.vm': '가상 머신',
    'playground.tab.images': '이미지',
  },
});
