import { expect } from 'chai';
import fc from 'fast-check';
import { REJECT_AFTER_MESSAGES } from '../../lib/constants.js';
import { REPLAY_WINDOW_SIZE, ReplayWindow, REPLAY_RING_BITS } from '../../lib/protocol/replay-window.js';

const W = REPLAY_WINDOW_SIZE;
const LIMIT = REJECT_AFTER_MESSAGES;
/** Bits in the ring (256 blocks of 32): counters this far apart share a ring slot. */
const RING_BITS = REPLAY_RING_BITS;

/** The specification: each counter once, nothing W or more behind the highest accepted. */
class ReferenceWindow {
  readonly seen = new Set<number>();
  max = -1;

  wouldAccept(counter: number, limit: number): boolean {
    if (counter < 0 || counter >= limit) return false;
    if (this.seen.has(counter)) return false;
    return this.max < 0 || this.max - counter < W;
  }

  accept(counter: number, limit: number): boolean {
    const ok = this.wouldAccept(counter, limit);
    if (ok) {
      this.seen.add(counter);
      if (counter > this.max) this.max = counter;
    }
    return ok;
  }
}

function acceptAll(window: ReplayWindow, counters: readonly number[], limit = LIMIT): boolean[] {
  return counters.map((c) => window.accept(c, limit));
}

describe('ReplayWindow', () => {
  it('REPLAY_WINDOW_SIZE is at least 2048 (and matches the ring: all blocks but one)', () => {
    expect(W).to.be.at.least(2048);
    expect(W).to.equal(RING_BITS - 32);
  });

  it('starts with last = -1', () => {
    expect(new ReplayWindow().last).to.equal(-1);
  });

  it('accepts 0..N in order, and `last` follows', () => {
    const w = new ReplayWindow();
    for (let c = 0; c <= 20_000; c++) {
      if (!w.accept(c, LIMIT)) expect.fail(`counter ${c} rejected in order`);
      if (w.last !== c) expect.fail(`last ${w.last} after accepting ${c}`);
    }
    expect(w.last).to.equal(20_000);
  });

  it('rejects an exact duplicate (of the newest and of older counters)', () => {
    const w = new ReplayWindow();
    expect(acceptAll(w, [0, 1, 2, 3])).to.deep.equal([true, true, true, true]);
    expect(w.accept(3, LIMIT)).to.equal(false);
    expect(w.accept(0, LIMIT)).to.equal(false);
    expect(w.accept(2, LIMIT)).to.equal(false);
    expect(w.check(3, LIMIT)).to.equal(false);
    expect(w.check(1, LIMIT)).to.equal(false);
    expect(w.last).to.equal(3);
  });

  it('rejects a duplicate of the very first counter when it is 0', () => {
    const w = new ReplayWindow();
    expect(w.accept(0, LIMIT)).to.equal(true);
    expect(w.accept(0, LIMIT)).to.equal(false);
  });

  it('accepts out-of-order counters within the window, each once', () => {
    const w = new ReplayWindow();
    expect(w.accept(100, LIMIT)).to.equal(true);
    expect(acceptAll(w, [99, 50, 0, 98, 1])).to.deep.equal([true, true, true, true, true]);
    expect(acceptAll(w, [99, 50, 0, 98, 1, 100])).to.deep.equal([false, false, false, false, false, false]);
    expect(w.accept(75, LIMIT)).to.equal(true);
    expect(w.last).to.equal(100);
    // a reversed run
    const r = new ReplayWindow();
    for (let c = W - 1; c >= 0; c--) {
      if (!r.accept(c, LIMIT)) expect.fail(`reversed counter ${c} rejected`);
    }
    for (let c = 0; c < W; c += 97) {
      if (r.accept(c, LIMIT)) expect.fail(`replayed counter ${c} accepted`);
    }
  });

  it('accepts exactly at the boundary newest - (W-1) and rejects newest - W and older', () => {
    // several newest values, to hit different positions inside a 32-bit block
    for (const newest of [W, W + 1, W + 31, W + 32, 3 * W + 17, 1_000_003, 2 ** 32 + 7, 2 ** 52 + 29]) {
      const w = new ReplayWindow();
      expect(w.accept(newest, LIMIT), `newest ${newest}`).to.equal(true);
      expect(w.check(newest - W, LIMIT), `check newest-W, newest ${newest}`).to.equal(false);
      expect(w.accept(newest - W, LIMIT), `newest-W, newest ${newest}`).to.equal(false);
      expect(w.accept(newest - W - 1, LIMIT), `newest-W-1, newest ${newest}`).to.equal(false);
      expect(w.accept(newest - 10 * W, LIMIT), `newest-10W, newest ${newest}`).to.equal(false);
      expect(w.check(newest - (W - 1), LIMIT), `check newest-(W-1), newest ${newest}`).to.equal(true);
      expect(w.accept(newest - (W - 1), LIMIT), `newest-(W-1), newest ${newest}`).to.equal(true);
      expect(w.accept(newest - (W - 1), LIMIT), `dup newest-(W-1), newest ${newest}`).to.equal(false);
      expect(w.accept(newest - 1, LIMIT), `newest-1, newest ${newest}`).to.equal(true);
      expect(w.last).to.equal(newest);
    }
  });

  it('every counter of the last W (never seen) is accepted after a jump, and none older', () => {
    const w = new ReplayWindow();
    const newest = 50_000;
    expect(w.accept(newest, LIMIT)).to.equal(true);
    for (let c = newest - 1; c > newest - W; c--) {
      if (!w.accept(c, LIMIT)) expect.fail(`counter ${c} (${newest - c} behind) rejected`);
    }
    for (let c = newest - W; c > newest - W - 100; c--) {
      if (w.accept(c, LIMIT)) expect.fail(`counter ${c} (${newest - c} behind) accepted`);
    }
  });

  describe('big jumps forward', () => {
    it('+10^6 after a dense run: the window moves, old counters are rejected, new ones accepted', () => {
      const w = new ReplayWindow();
      for (let c = 0; c < 10_000; c++) w.accept(c, LIMIT);
      const jump = 10_000 + 1_000_000;
      expect(w.accept(jump, LIMIT)).to.equal(true);
      expect(w.last).to.equal(jump);
      // everything from the old run is far too old now
      expect(w.accept(9_999, LIMIT)).to.equal(false);
      expect(w.accept(0, LIMIT)).to.equal(false);
      // counters just behind the jump never arrived; they must be accepted even though their
      // ring slots held bits of the old run
      for (let c = jump - 1; c > jump - W; c -= 1) {
        if (!w.accept(c, LIMIT)) expect.fail(`counter ${c} after the +10^6 jump rejected`);
      }
    });

    it('a counter whose ring slot was reused is not falsely flagged as seen', () => {
      const w = new ReplayWindow();
      for (let c = 0; c <= 300; c++) expect(w.accept(c, LIMIT)).to.equal(true);
      // exactly one ring's worth ahead of counters already seen: same block index, same bit
      expect(w.accept(RING_BITS + 50, LIMIT)).to.equal(true);
      expect(w.accept(RING_BITS + 40, LIMIT), 'shares the slot of 40').to.equal(true);
      expect(w.accept(RING_BITS + 0, LIMIT), 'shares the slot of 0').to.equal(true);
      expect(w.accept(RING_BITS + 100, LIMIT), 'shares the slot of 100, ahead').to.equal(true);
      // counters still inside the window that really were seen stay rejected
      for (const seen of [200, 250, 300]) {
        expect(RING_BITS + 100 - seen).to.be.below(W);
        expect(w.accept(seen, LIMIT), `${seen} was seen and is within the window`).to.equal(false);
      }
      expect(w.accept(120, LIMIT), '120 is now too old').to.equal(false);
      // and ones never seen inside the window are accepted
      expect(w.accept(RING_BITS + 60, LIMIT)).to.equal(true);
      expect(w.accept(RING_BITS + 60, LIMIT)).to.equal(false);
    });

    it('a jump of exactly one ring, two rings and ring - 1 on the same bit', () => {
      for (const step of [RING_BITS - 32, RING_BITS - 1, RING_BITS, RING_BITS + 1, 2 * RING_BITS, 7 * RING_BITS + 32]) {
        const w = new ReplayWindow();
        const base = 12_345;
        expect(w.accept(base, LIMIT)).to.equal(true);
        expect(w.accept(base + step, LIMIT), `base + ${step}`).to.equal(true);
        expect(w.accept(base + step, LIMIT), `dup base + ${step}`).to.equal(false);
        // the slot-sharing neighbours of base, never seen
        for (const k of [1, 2, 3]) {
          const c = base + step - k * 32;
          if (base + step - c < W && c !== base) {
            expect(w.accept(c, LIMIT), `step ${step}: ${c}`).to.equal(true);
          }
        }
        // base is either a duplicate (still inside) or too old: rejected either way
        expect(w.accept(base, LIMIT), `step ${step}: replay of base`).to.equal(false);
      }
    });

    it('counters above 2^32 are handled exactly (no 32-bit truncation)', () => {
      const w = new ReplayWindow();
      const hi = 2 ** 32;
      expect(w.accept(5, LIMIT)).to.equal(true);
      expect(w.accept(hi + 5, LIMIT), '2^32 + 5 is not 5').to.equal(true);
      expect(w.last).to.equal(hi + 5);
      expect(w.accept(hi + 5, LIMIT)).to.equal(false);
      expect(w.accept(5, LIMIT), '5 is far too old now').to.equal(false);
      expect(w.accept(hi + 4, LIMIT)).to.equal(true);
      expect(w.accept(hi + 5 + RING_BITS, LIMIT), 'same ring slot as 2^32 + 5').to.equal(true);
      expect(w.accept(hi + 5 + RING_BITS - (W - 1), LIMIT), 'boundary, never seen').to.equal(true);
      expect(w.accept(hi + 5 + RING_BITS - W, LIMIT), 'just outside').to.equal(false);
      // 2^32 - 1 and 2^32 are different counters with very different slots
      const v = new ReplayWindow();
      expect(acceptAll(v, [hi - 1, hi, hi + 1, hi - 2])).to.deep.equal([true, true, true, true]);
      expect(acceptAll(v, [hi - 1, hi, hi + 1, hi - 2])).to.deep.equal([false, false, false, false]);
    });

    it('counters near 2^52 and up to the sending limit', () => {
      const w = new ReplayWindow();
      const base = 2 ** 52 - 3;
      expect(acceptAll(w, [base, base + 1, base + 2, base + 3, base + 4])).to.deep.equal([true, true, true, true, true]);
      expect(acceptAll(w, [base, base + 4])).to.deep.equal([false, false]);
      expect(w.accept(base + RING_BITS, LIMIT), 'same slot as base').to.equal(true);
      expect(w.accept(base + RING_BITS + 1, LIMIT), 'same slot as base + 1').to.equal(true);
      expect(w.accept(base + RING_BITS - 1, LIMIT)).to.equal(true);
      // newest is base + RING_BITS + 1 = base + W + 33: base + 34 is the oldest counter still inside
      expect(w.last).to.equal(base + W + 33);
      expect(w.accept(base + 4, LIMIT), 'base + 4 was seen and is too old now').to.equal(false);
      expect(w.accept(base + 33, LIMIT), 'base + 33 is just outside').to.equal(false);
      expect(w.accept(base + 34, LIMIT), 'base + 34 never seen, at the boundary').to.equal(true);
      expect(w.accept(base + 40, LIMIT), 'base + 40 never seen, inside the window').to.equal(true);
      const far = 2 ** 52 + 1_000_000;
      expect(w.accept(far, LIMIT)).to.equal(true);
      expect(w.accept(base + 41, LIMIT)).to.equal(false);
      expect(w.accept(far - 1, LIMIT)).to.equal(true);
      // the very last counter below the limit
      expect(w.accept(LIMIT - 1, LIMIT)).to.equal(true);
      expect(w.accept(LIMIT - 1, LIMIT)).to.equal(false);
      expect(w.accept(LIMIT - 2, LIMIT)).to.equal(true);
      expect(w.accept(LIMIT - 1 - W, LIMIT), 'W behind the newest').to.equal(false);
      expect(w.accept(LIMIT - W, LIMIT), 'W - 1 behind the newest').to.equal(true);
      expect(w.last).to.equal(LIMIT - 1);
    });
  });

  describe('limits', () => {
    it('rejects counter >= limit and negative counters, in check and accept, without moving the window', () => {
      const w = new ReplayWindow();
      expect(w.accept(10, 100)).to.equal(true);
      for (const c of [100, 101, 10_000, 2 ** 53, Number.MAX_SAFE_INTEGER, Infinity, -1, -2, -(2 ** 40), -Infinity]) {
        expect(w.check(c, 100), `check ${c}`).to.equal(false);
        expect(w.accept(c, 100), `accept ${c}`).to.equal(false);
      }
      expect(w.last).to.equal(10);
      expect(w.accept(99, 100)).to.equal(true);
      expect(w.accept(11, 100)).to.equal(true);
      expect(w.last).to.equal(99);
    });

    it('limit 0 rejects everything', () => {
      const w = new ReplayWindow();
      expect(w.check(0, 0)).to.equal(false);
      expect(w.accept(0, 0)).to.equal(false);
      expect(w.last).to.equal(-1);
    });

    it('the default limit REJECT_AFTER_MESSAGES is enforced at the boundary', () => {
      const w = new ReplayWindow();
      expect(w.accept(LIMIT, LIMIT)).to.equal(false);
      expect(w.accept(LIMIT - 1, LIMIT)).to.equal(true);
    });
  });

  describe('check', () => {
    it('does not mutate: check then accept behaves like accept alone', () => {
      const counters = [5, 3, 3, 9000, 10, 9000 - (W - 1), 9000 - W, 9000, 8999, 0, 20_000, 19_999, 20_000 - (W - 1), 20_000 - W, 2 ** 33, 2 ** 33 - 1, 5];
      const withCheck = new ReplayWindow();
      const without = new ReplayWindow();
      const a: boolean[] = [];
      const b: boolean[] = [];
      for (const c of counters) {
        // check several times: none of them may change anything
        const first = withCheck.check(c, LIMIT);
        expect(withCheck.check(c, LIMIT)).to.equal(first);
        expect(withCheck.check(c + 1, LIMIT)).to.be.a('boolean');
        const accepted = withCheck.accept(c, LIMIT);
        expect(accepted, `check(${c}) said ${first}`).to.equal(first);
        a.push(accepted);
        b.push(without.accept(c, LIMIT));
        expect(withCheck.last).to.equal(without.last);
      }
      expect(a).to.deep.equal(b);
      expect(a).to.deep.equal(
        [true, true, false, true, false, true, false, false, true, false, true, true, true, false, true, true, false]);
    });

    it('check of a far-ahead counter does not move the window', () => {
      const w = new ReplayWindow();
      expect(w.accept(10, LIMIT)).to.equal(true);
      expect(w.check(10_000_000, LIMIT)).to.equal(true);
      expect(w.last).to.equal(10);
      expect(w.accept(9, LIMIT), 'still inside the window').to.equal(true);
      expect(w.accept(10, LIMIT)).to.equal(false);
    });

    it('check on a fresh window accepts any counter in range', () => {
      const w = new ReplayWindow();
      for (const c of [0, 1, 31, 32, 8191, 8192, 2 ** 32, 2 ** 52, LIMIT - 1]) {
        expect(w.check(c, LIMIT), `${c}`).to.equal(true);
      }
      expect(w.last).to.equal(-1);
    });
  });

  describe('property: agrees with a reference model (Set of accepted + max seen)', () => {
    type Step =
      | { kind: 'near'; delta: number }
      | { kind: 'jump'; delta: number }
      | { kind: 'dup'; pick: number }
      | { kind: 'edge'; delta: number };

    const step: fc.Arbitrary<Step> = fc.oneof(
      // around the newest counter, well inside and just outside the window
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('near' as const), delta: fc.integer({ min: -(W + 64), max: 64 }) }) },
      // small and big jumps forward
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('jump' as const),
          delta: fc.oneof(fc.integer({ min: 1, max: 3 * RING_BITS }), fc.integer({ min: 1, max: 2 ** 40 })),
        }),
      },
      // exact duplicates of something already offered
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('dup' as const), pick: fc.nat() }) },
      // right at the boundary of the window and at ring-slot aliases
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('edge' as const),
          delta: fc.constantFrom(-W, -(W - 1), -(W + 1), -RING_BITS, RING_BITS, RING_BITS - 1, RING_BITS + 1, -32, 32, -31, 0),
        }),
      },
    );

    const scenario = fc.record({
      start: fc.constantFrom(0, 1000, 2 ** 32 - 50, 2 ** 32 + 3, 2 ** 52 - 5000, 2 ** 52 + 12_345),
      steps: fc.array(step, { minLength: 1, maxLength: 250 }),
      checkFirst: fc.boolean(),
    });

    it('accept() and check() match the model on random sequences with duplicates, reorderings and jumps', function () {
      this.timeout(60_000);
      fc.assert(
        fc.property(scenario, ({ start, steps, checkFirst }) => {
          const w = new ReplayWindow();
          const model = new ReferenceWindow();
          const offered: number[] = [];
          let base = start;
          for (const s of steps) {
            let c: number;
            switch (s.kind) {
              case 'near':
                c = base + s.delta;
                break;
              case 'jump':
                base += s.delta;
                c = base;
                break;
              case 'dup':
                c = offered.length === 0 ? base : offered[s.pick % offered.length]!;
                break;
              case 'edge':
                c = Math.max(model.max, base) + s.delta;
                break;
            }
            if (c >= LIMIT) c = LIMIT - 1 - (c % 1000);
            const expected = model.wouldAccept(c, LIMIT);
            if (checkFirst) {
              expect(w.check(c, LIMIT), `check(${c}) with max ${model.max}`).to.equal(expected);
            }
            expect(w.accept(c, LIMIT), `accept(${c}) with max ${model.max}`).to.equal(model.accept(c, LIMIT));
            expect(w.last).to.equal(model.max);
            offered.push(c);
            if (c > base) base = c;
          }
        }),
        { numRuns: 300 },
      );
    });

    it('check() is exactly model.wouldAccept and never changes later results', function () {
      this.timeout(60_000);
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: -5, max: 3 * RING_BITS }), { minLength: 1, maxLength: 150 }),
          fc.array(fc.integer({ min: -5, max: 4 * RING_BITS }), { maxLength: 8 }),
          (counters, probes) => {
            const w = new ReplayWindow();
            const model = new ReferenceWindow();
            for (const c of counters) {
              for (const p of probes) {
                expect(w.check(p, LIMIT), `probe ${p}`).to.equal(model.wouldAccept(p, LIMIT));
              }
              expect(w.accept(c, LIMIT), `accept ${c}`).to.equal(model.accept(c, LIMIT));
            }
            expect(w.last).to.equal(model.max);
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});
