import { expect } from 'chai';
import { compareRounds, figuresOf, type Figures } from '../../benchmarks/figures.js';

const figures = (entries: Record<string, number>): Figures => new Map(Object.entries(entries));

describe('bench figures and the same-run comparison', () => {
  it('reads the cited figures from a report, medians over its runs, and skips what is missing', () => {
    const report = {
      crypto: {
        cases: [
          { kind: 'backend' as const, label: 'X25519 scalar mult', results: { native: { opsPerSec: 30_000 }, js: { opsPerSec: 1000 } } },
          { kind: 'shared' as const, label: 'HKDF', result: { opsPerSec: 90_000 } },
        ],
        facade: { rows: [{ backend: 'native' as const, size: 1400, encryptInto: { ratio: 0.9 }, encrypt: {} }] },
      },
      network: {
        capacity: [{ threads: null, perSec: 3000 }, { threads: 0, perSec: 1800 }, { threads: null, perSec: 2800 }, { threads: null, perSec: 2900 }],
        idleMemory: { runs: [{ perSession: { rssLessFreeHeap: 1600, heap: 1650 } }, { perSession: { rssLessFreeHeap: 1700, heap: 1660 } }] },
      },
      transfer: { runs: [{ bittrrt: { mbPerSec: 40 } }, { bittrrt: { mbPerSec: 44 } }, { bittrrt: { mbPerSec: 41 } }], medians: { bittrrtOfRawUdp: 0.27 } },
    };
    const f = figuresOf(report);
    expect(f.get('crypto: X25519 scalar mult [native] ops/s')).to.equal(30_000);
    expect(f.get('crypto: X25519 scalar mult [js] ops/s')).to.equal(1000);
    expect(f.get('crypto: HKDF ops/s')).to.equal(90_000);
    expect(f.get('facade native 1400 B: encryptInto ÷ bare prealloc')).to.equal(0.9);
    expect(f.has('facade native 1400 B: encrypt ÷ bare alloc')).to.equal(false);
    expect(f.get('sessions: handshake capacity, default handshake threads, handshakes/s')).to.equal(2900);
    expect(f.get('sessions: handshake capacity, 0 handshake threads, handshakes/s')).to.equal(1800);
    expect(f.get('sessions: idle memory, RSS less V8 free, B/session')).to.equal(1650);
    expect(f.get('transfer: bittrrt MB/s')).to.equal(41);
    expect(f.get('transfer: ratio bittrrtOfRawUdp')).to.equal(0.27);
    expect(f.has('transfer: tls MB/s')).to.equal(false);
    expect(figuresOf({}).size).to.equal(0);
  });

  it('divides each round\'s B by its A, and lists what only one side reported', () => {
    const a = [figures({ x: 100, gone: 1 }), figures({ x: 200, gone: 1 }), figures({ x: 100, gone: 1 })];
    const b = [figures({ x: 110, added: 2 }), figures({ x: 180, added: 2 }), figures({ x: 100, added: 2 })];
    const c = compareRounds(a, b);
    expect(c.onlyA).to.deep.equal(['gone']);
    expect(c.onlyB).to.deep.equal(['added']);
    expect(c.figures).to.have.length(1);
    const [x] = c.figures;
    expect(x?.ratio).to.be.closeTo(1, 1e-9);
    expect(x?.ratioRange[0]).to.be.closeTo(0.9, 1e-9);
    expect(x?.ratioRange[1]).to.be.closeTo(1.1, 1e-9);
    expect(x?.a).to.equal(100);
    expect(x?.b).to.equal(110);
    expect(x?.spreadA).to.be.closeTo(50, 1e-9);
    expect(x?.rounds).to.equal(3);
  });
});
