// The home page until lessons exist (a later issue): what the course will cover, in order, and
// the way into the playground, which works today.
import Link from 'next/link';
import type { Locale } from '../../lib/i18n/locale';
import { translator } from '../../lib/i18n/translate';
import { messages } from './messages';
import styles from './course-map.module.css';

const LESSONS = [1, 2, 3, 4, 5, 6] as const;

export function CourseMap({ locale }: { locale: Locale }) {
  const t = translator(messages, locale);
  return (
    <main id="main" className={styles.main}>
      <section className={styles.hero} aria-labelledby="home-title">
        <h1 id="home-title">{t('home.title')}</h1>
        <p className={styles.lede}>{t('home.lede')}</p>
        <p>
          <Link href="/play" className={styles.cta}>{t('home.cta')}</Link>
        </p>
        <p className={styles.note}>{t('home.playNote')}</p>
      </section>
      <section aria-labelledby="course-map">
        <h2 id="course-map" className={styles.mapTitle}>{t('home.courseMap')}</h2>
        <ol className={styles.lessons}>
          {LESSONS.map((n) => (
            <li key={n} className={styles.lesson}>
              <span className={styles.step} aria-hidden="true">{n}</span>
              <div>
                <h3>{t(`home.lesson${n}.title`)}</h3>
                <p>{t(`home.lesson${n}.body`)}</p>
                <p className={styles.soon}>{t('home.soon')}</p>
              </div>
            </li>
          ))}
        </ol>
      </section>
    </main>
  );
}
