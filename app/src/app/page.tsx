import { Header } from '../components/shell/Header';
import { CourseMap } from '../components/shell/CourseMap';
import { requestLocale } from '../lib/i18n/server';

export default async function Home() {
  const locale = await requestLocale();
  return (
    <>
      <Header locale={locale} current="course" />
      <CourseMap locale={locale} />
    </>
  );
}
