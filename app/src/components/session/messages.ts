import { defineMessages } from '../../lib/i18n/translate';

export const messages = defineMessages({
  en: {
    'session.timeLeft': 'Time left {time}',
    'session.timeLeftLabel': 'Your containers keep running for {time} more without activity.',
    'session.noContainers': 'No containers running',
    'session.idleWarning': '{name} will be stopped in {time} because nothing has happened in it for a while. Its files stay; you can start a new container any time.',
    'session.keepWorking': 'Keep working',
    'session.kept': 'Thanks, {name} keeps running.',
    'session.stopped': '{name} was stopped after being idle.',
    'session.limitLabel': '{name} reaches this host’s time limit in {time} and is stopped then, busy or not.',
    'session.limitWarning': '{name} reaches its time limit in {time} and will be stopped. To keep its files, commit it to an image now.',
  },
  ko: {
    'session.timeLeft': '남은 시간 {time}',
    'session.timeLeftLabel': '아무 활동이 없으면 컨테이너가 {time} 뒤에 멈춰요.',
    'session.noContainers': '실행 중인 컨테이너 없음',
    'session.idleWarning': '{name}에서 한동안 아무 일도 없어서 {time} 뒤에 멈춰요. 파일은 남고, 새 컨테이너는 언제든 시작할 수 있어요.',
    'session.keepWorking': '계속 작업하기',
    'session.kept': '좋아요, {name}은(는) 계속 실행돼요.',
    'session.stopped': '{name}이(가) 오래 쉬어서 멈췄어요.',
    'session.limitLabel': '{name} 컨테이너는 작업 중이어도 {time} 뒤에 이 서버의 시간 제한으로 멈춰요.',
    'session.limitWarning': '{name} 컨테이너가 {time} 뒤에 시간 제한에 걸려 멈춰요. 파일을 남기려면 지금 이미지로 커밋하세요.',
  },
});
