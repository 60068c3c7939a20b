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
/** How often the silence is checked (more often for a short silence: a check more than half of it late only takes note). */
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

/**
 * Watches a peer while `running()` says transfers are under way: calls `onSilent` once it has
 * been silent for `silenceMs` (SilenceCheck), and stops by itself when nothing runs any more (a
 * new transfer calls `wake()` again, and the count starts afresh).
 */
export class PeerWatch {
  readonly #silenceMs: number;
  readonly #lastHeard: () => number;
  readonly #running: () => boolean;
  readonly #onSilent: () => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(silenceMs: number, lastHeard: () => number, running: () => boolean, onSilent: () => void) {
    this.#silenceMs = silenceMs;
    this.#lastHeard = lastHeard;
    this.#running = running;
    this.#onSilent = onSilent;
  }

  wake(): void {
    if (this.#timer) return;
    const check = new SilenceCheck(this.#silenceMs, this.#lastHeard);
    this.#timer = setInterval(() => {
      if (!this.#running()) return this.stop();
      if (!check.silent(clock())) return;
      this.stop();
      this.#onSilent();
    }, Math.min(CHECK_MS, this.#silenceMs / 4));
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
