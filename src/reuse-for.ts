/**
 * An answer reused while it is younger than `maxAgeMs`: callers within that time (also while it is still being
 * fetched) share one fetch. A fetch that fails is never kept, and `forget()` drops the answer at once.
 */
export interface Reused<T> {
  get(): Promise<T>;
  forget(): void;
}

export function reuseFor<T>(maxAgeMs: number, fetch: () => Promise<T>, now: () => number = Date.now): Reused<T> {
  let kept: { at: number; answer: Promise<T> } | null = null;
  return {
    get() {
      const at = now();
      if (kept && at - kept.at < maxAgeMs) return kept.answer;
      const entry = { at, answer: fetch() };
      kept = entry;
      entry.answer.catch(() => {
        if (kept === entry) kept = null;
      });
      return entry.answer;
    },
    forget() {
      kept = null;
    },
  };
}
