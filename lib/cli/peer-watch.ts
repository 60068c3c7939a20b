import type { Session } from '../net/session.js';
import { clock } from '../time.js';

/**
 * While a transfer runs, a peer that has sent nothing at all for this many of our heartbeat
 * intervals is taken for dead (15 s at the default 5 s), well before the transfer's own stall time
 * (TRANSFER_STALL_MS, 30 s) and the session's (10 heartbeats, 50 s), which must also cover an idle
 * session. A running transfer is never idle: the peer acknowledges data many times a round trip,
 * or sends data, or answers our control messages (sent again at least every 2 s), and it answers
 * each of our heartbeats besides. Three intervals of total silence therefore mean at least two
 * heartbeats in a row unanswered and every datagram of the transfer lost: not a slow link (a slow
 * or long one delays the answers, it does not stop them), but a peer that stopped or a path that
 * is down. It does not count loss alone: heartbeats keep a session heard during the quiet parts
 * of a transfer (our own hash of a file's start before a resume).
 */
export const PEER_SILENCE_HEARTBEATS = 3;
/** How often the silence is checked. */
const CHECK_MS = 1000;

/**
 * Decides, check by check, whether the peer has been silent too long. A check that comes late
 * (this process's event loop was held up, so datagrams may be waiting unread in the socket) only
 * takes note: the next one decides, after they were read.
 */
export class SilenceCheck {
  readonly silenceMs: number;
  readonly #lastHeard: () => number;
  #checkedAt: number | undefined;

  constructor(silenceMs: number, lastHeard: () => number) {
    this.silenceMs = silenceMs;
    this.#lastHeard = lastHeard;
  }

  silent(now: number): boolean {
    const late = this.#checkedAt !== undefined && now - this.#checkedAt > this.silenceMs / 2;
    this.#checkedAt = now;
    return !late && now - this.#lastHeard() > this.silenceMs;
  }
}

/** Calls `onSilent` once if the session's peer stays silent for `silenceMs`; returns the function that stops watching. */
export function watchPeer(session: Session, silenceMs: number, onSilent: () => void): () => void {
  const check = new SilenceCheck(silenceMs, () => session.lastReceived);
  const timer = setInterval(() => {
    if (!check.silent(clock())) return;
    clearInterval(timer);
    onSilent();
  }, CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
