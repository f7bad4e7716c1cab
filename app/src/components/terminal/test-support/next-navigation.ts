// Next's router outside Next: the LocaleProvider only calls refresh() after a language switch.
export function useRouter() {
  return { refresh() {} };
}
