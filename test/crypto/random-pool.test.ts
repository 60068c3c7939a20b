import { expect } from 'chai';
import { RANDOM_POOL_BYTES, RANDOM_POOL_MAX_REQUEST } from '../../lib/constants.js';
import { nodeRandom, RandomPool } from '../../lib/crypto/random-pool.js';

/** A deterministic source (a 32-bit LCG's high bytes) that counts its calls, so every byte handed out is traceable. */
function countingSource(): { fill: (buf: Uint8Array) => void; calls: number[] } {
  let state = 1;
  const calls: number[] = [];
  return {
    calls,
    fill(buf) {
      calls.push(buf.length);
      for (let i = 0; i < buf.length; i++) {
        state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
        buf[i] = state >>> 24;
      }
    },
  };
}

describe('RandomPool', () => {
  it('serves small requests from one bulk fill, each byte once, in order', () => {
    const source = countingSource();
    const pool = new RandomPool(source.fill);
    const reference = new Uint8Array(RANDOM_POOL_BYTES);
    countingSource().fill(reference);
    const served: number[] = [];
    for (const size of [32, 16, 4, 12, 64, 1]) {
      const buf = new Uint8Array(size);
      pool.fill(buf);
      served.push(...buf);
    }
    expect(source.calls).to.deep.equal([RANDOM_POOL_BYTES]);
    expect(served).to.deep.equal([...reference.subarray(0, served.length)]);
  });

  it('refills when a request does not fit in what is left, never reusing bytes', () => {
    const source = countingSource();
    const pool = new RandomPool(source.fill);
    const requests = Math.floor(RANDOM_POOL_BYTES / 48) + 1;
    const seen = new Set<string>();
    for (let i = 0; i < requests; i++) {
      const buf = new Uint8Array(48);
      pool.fill(buf);
      seen.add(Buffer.from(buf).toString('hex'));
    }
    expect(source.calls).to.deep.equal([RANDOM_POOL_BYTES, RANDOM_POOL_BYTES]);
    expect(seen.size, 'no two requests got the same bytes').to.equal(requests);
  });

  it('sends requests above the limit straight to the source', () => {
    const source = countingSource();
    const pool = new RandomPool(source.fill);
    pool.fill(new Uint8Array(RANDOM_POOL_MAX_REQUEST + 1));
    expect(source.calls).to.deep.equal([RANDOM_POOL_MAX_REQUEST + 1]);
  });

  it('fills an empty request without touching the source', () => {
    const source = countingSource();
    new RandomPool(source.fill).fill(new Uint8Array(0));
    expect(source.calls).to.have.length(0);
  });
});

describe('nodeRandom', () => {
  it('hands out bytes from the CSPRNG, not the zeros of an unfilled pool', () => {
    // 64 bytes all zero from a CSPRNG: probability 2^-512.
    const buf = new Uint8Array(64);
    nodeRandom.fill(buf);
    expect(buf.some((b) => b !== 0)).to.equal(true);
  });
});
