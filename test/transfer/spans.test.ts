import { expect } from 'chai';
import fc from 'fast-check';
import { Spans } from '../../lib/transfer/spans.js';

/** The obvious model: a set of offsets in a small universe. */
class Model {
  readonly offsets = new Set<number>();
  add(start: number, end: number): number {
    let added = 0;
    for (let i = start; i < end; i++) if (!this.offsets.has(i) && this.offsets.add(i)) added++;
    return added;
  }
  covers(start: number, end: number): boolean {
    for (let i = start; i < end; i++) if (!this.offsets.has(i)) return false;
    return true;
  }
  overlaps(start: number, end: number): boolean {
    for (let i = start; i < end; i++) if (this.offsets.has(i)) return true;
    return false;
  }
  contiguousEnd(offset: number): number {
    let end = offset;
    while (this.offsets.has(end)) end++;
    return end;
  }
  forgetBelow(offset: number): void {
    for (const i of [...this.offsets]) if (i < offset) this.offsets.delete(i);
  }
  spans(from: number): Array<[number, number]> {
    const sorted = [...this.offsets].filter((i) => i >= from).sort((a, b) => a - b);
    const out: Array<[number, number]> = [];
    for (const i of sorted) {
      const last = out.at(-1);
      if (last && last[1] === i) last[1] = i + 1;
      else out.push([i, i + 1]);
    }
    return out;
  }
}

const UNIVERSE = 200;
const range = fc.tuple(fc.nat(UNIVERSE), fc.nat(40)).map(([start, length]) => [start, start + length] as const);
const operation = fc.oneof(
  range.map(([s, e]) => ({ op: 'add' as const, s, e })),
  fc.nat(UNIVERSE).map((s) => ({ op: 'forget' as const, s, e: s })),
);

describe('transfer/spans', () => {
  it('matches a set of offsets under any sequence of adds and forgets', () => {
    fc.assert(fc.property(fc.array(operation, { maxLength: 60 }), fc.array(range, { minLength: 5, maxLength: 5 }), (ops, probes) => {
      const spans = new Spans();
      const model = new Model();
      for (const { op, s, e } of ops) {
        if (op === 'add') expect(spans.add(s, e)).to.equal(model.add(s, e));
        else {
          spans.forgetBelow(s);
          model.forgetBelow(s);
        }
        // Invariant: sorted, disjoint, never adjacent (adjacent spans merge).
        const all = spans.spansFrom(0, Infinity);
        for (let i = 1; i < all.length; i++) expect(all[i]![0]).to.be.greaterThan(all[i - 1]![1]);
        expect(spans.count).to.equal(all.length);
      }
      expect(spans.spansFrom(0, Infinity)).to.deep.equal(model.spans(0));
      for (const [s, e] of probes) {
        expect(spans.covers(s, e), `covers ${s}-${e}`).to.equal(model.covers(s, e));
        expect(spans.overlaps(s, e), `overlaps ${s}-${e}`).to.equal(model.overlaps(s, e));
        expect(spans.contiguousEnd(s), `contiguousEnd ${s}`).to.equal(model.contiguousEnd(s));
        expect(spans.spansFrom(s, 3)).to.deep.equal(model.spans(s).slice(0, 3).map(([a, b]) => [Math.max(a, s), b]));
      }
    }), { numRuns: 400 });
  });

  it('merges touching spans and reports only new bytes', () => {
    const spans = new Spans();
    expect(spans.add(10, 20)).to.equal(10);
    expect(spans.add(30, 40)).to.equal(10);
    expect(spans.count).to.equal(2);
    expect(spans.add(20, 30)).to.equal(10);
    expect(spans.count).to.equal(1);
    expect(spans.add(15, 35)).to.equal(0);
    expect(spans.contiguousEnd(10)).to.equal(40);
    expect(spans.contiguousEnd(9)).to.equal(9);
    expect(spans.add(5, 5)).to.equal(0);
  });

  it('handles offsets beyond 2^32 exactly', () => {
    const spans = new Spans();
    const big = 2 ** 40;
    spans.add(big, big + 1400);
    expect(spans.covers(big, big + 1400)).to.equal(true);
    expect(spans.covers(big - 1, big + 1400)).to.equal(false);
    expect(spans.contiguousEnd(big)).to.equal(big + 1400);
  });
});
