import { REJECT_AFTER_MESSAGES } from '../lib/constants.js';
import { REPLAY_WINDOW_SIZE, ReplayWindow } from '../lib/protocol/replay-window.js';
import { check, type SharedCase } from './harness.js';

/** Out-of-order arrival is simulated by shuffling counters within consecutive spans of this many. */
export const SHUFFLE_SPAN = 2048;

/** 0..n-1 in order. */
function inOrder(n: number): Uint32Array {
  return Uint32Array.from({ length: n }, (_, i) => i);
}

/** 0..n-1 shuffled (Fisher–Yates) with a fixed xorshift32 seed, so every run sees the same order. */
function shuffled(n: number): Uint32Array {
  const order = inOrder(n);
  let state = 0x9e3779b9;
  for (let i = n - 1; i > 0; i--) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const j = (state >>> 0) % (i + 1);
    const swap = order[i] ?? 0;
    order[i] = order[j] ?? 0;
    order[j] = swap;
  }
  return order;
}

/**
 * What the receive path does per packet around the AEAD: ReplayWindow.check before opening,
 * ReplayWindow.accept after. Counters come as `base + order[i]`, span after span, so every one
 * is new and inside the window (a span is far shorter than REPLAY_WINDOW_SIZE) and is accepted.
 */
function replayCase(id: string, label: string, order: Uint32Array): SharedCase {
  return {
    kind: 'shared',
    id,
    label,
    prepare() {
      check(order.length < REPLAY_WINDOW_SIZE, 'a span fits in the replay window');
      const window = new ReplayWindow();
      let base = 0;
      let i = 0;
      const op = (): boolean => {
        const counter = base + (order[i] ?? 0);
        if (++i === order.length) {
          i = 0;
          base += order.length;
        }
        return window.check(counter, REJECT_AFTER_MESSAGES) && window.accept(counter, REJECT_AFTER_MESSAGES);
      };
      let accepted = 0;
      for (let n = 0; n < 3 * order.length; n++) if (op()) accepted++;
      check(accepted === 3 * order.length, `${id}: every fresh counter is accepted`);
      check(!window.check(window.last, REJECT_AFTER_MESSAGES) && !window.accept(window.last, REJECT_AFTER_MESSAGES),
        `${id}: a replayed counter is refused`);
      return op;
    },
  };
}

export const replayCases: readonly SharedCase[] = [
  replayCase('replay.in-order', 'ReplayWindow check+accept, in-order counters', inOrder(SHUFFLE_SPAN)),
  replayCase('replay.shuffled', `ReplayWindow check+accept, shuffled in spans of ${SHUFFLE_SPAN}`, shuffled(SHUFFLE_SPAN)),
];
