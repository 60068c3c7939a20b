import { clock } from '../time.js';
import { PingTimeoutError } from './secure-session.js';
import type { Session } from './session.js';

export interface PingSummary {
  sent: number;
  received: number;
  /** Percentage of heartbeats that got no answer. */
  loss: number;
  min: number;
  avg: number;
  max: number;
  /** Mean deviation of the round-trip times, as ping(8)'s mdev: their standard deviation. */
  mdev: number;
}

export type PingResult = { sequence: number; rtt: number } | { sequence: number; timedOut: true };

/**
 * Sends `count` heartbeats `intervalMs` apart, like ping(8): `onResult` hears each answer or
 * timeout, and the summary has min/avg/max RTT and loss. Stops early if `signal` aborts or the
 * session closes.
 */
export async function pingSeries(session: Session, count: number, intervalMs: number,
  onResult: (result: PingResult) => void, signal?: AbortSignal): Promise<PingSummary> {
  const rtts: number[] = [];
  let sent = 0;
  const timeoutMs = Math.max(1000, 2 * intervalMs);
  for (let sequence = 1; sequence <= count && !signal?.aborted && !session.closed; sequence++) {
    const started = clock();
    sent++;
    try {
      const rtt = await session.ping(timeoutMs);
      rtts.push(rtt);
      onResult({ sequence, rtt });
    } catch (err) {
      if (!(err instanceof PingTimeoutError)) throw err;
      onResult({ sequence, timedOut: true });
    }
    const wait = intervalMs - (clock() - started);
    if (sequence < count && wait > 0) await sleep(wait, signal);
  }
  const received = rtts.length;
  const avg = received ? rtts.reduce((a, b) => a + b, 0) / received : NaN;
  return {
    sent,
    received,
    loss: sent === 0 ? 0 : (100 * (sent - received)) / sent,
    min: received ? Math.min(...rtts) : NaN,
    avg,
    max: received ? Math.max(...rtts) : NaN,
    mdev: received ? Math.sqrt(rtts.reduce((sum, rtt) => sum + (rtt - avg) ** 2, 0) / received) : NaN,
  };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });
}
