import { performance } from 'node:perf_hooks';

/**
 * Milliseconds on a monotonic clock (performance.now: from process start, sub-millisecond, never
 * stepped). Every timer that compares two moments (session silence, key age, rate-limit refills,
 * cookie and answer lifetimes, transfer stalls) reads this clock: a wall-clock step (NTP, a
 * suspended VM, an operator's `date -s`) must not time every session out at once, nor keep a
 * dead one alive. Only what the protocol itself dates in wall time (a `connect` token's
 * timestamp, checked for `stale-connect`) reads Date.now().
 */
export const clock = (): number => performance.now();
