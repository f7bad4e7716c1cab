/**
 * `items.map(fn)` with at most `limit` calls in flight, results in order. The store's reads are
 * small files behind libuv's thread pool: one after another, each waits its turn for a thread
 * (on a loaded host a listing's few hundred reads took most of its time); all at once, a large
 * store would hold a file descriptor per image.
 */
export async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
