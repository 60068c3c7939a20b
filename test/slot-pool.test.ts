import { expect } from 'chai';
import { AeadKey } from '../lib/crypto/aead-key.js';
import { loadSodiumBackend } from '../lib/crypto/sodium-backend.js';
import { SlotPool } from '../lib/slot-pool.js';

describe('SlotPool', () => {
  const bytes = (pool: SlotPool<Uint8Array>): Uint8Array => pool.take();

  it('hands out distinct, non-overlapping slots across slabs', () => {
    const pool = new SlotPool<Uint8Array>(32, 4, (slab, at) => new Uint8Array(slab, at, 32));
    const slots = Array.from({ length: 10 }, () => bytes(pool));
    slots.forEach((slot, i) => slot.fill(i + 1));
    slots.forEach((slot, i) => expect(slot.every((b) => b === i + 1), `slot ${i}`).to.equal(true));
    expect(new Set(slots.map((s) => s.buffer)).size).to.equal(3); // 4 + 4 + 2
  });

  it('zeroes a released slot and hands it out again before cutting new ones', () => {
    const pool = new SlotPool<Uint32Array>(320, 2, (slab, at) => new Uint32Array(slab, at, 80));
    const first = pool.take();
    first.fill(0xffff_ffff);
    pool.release(first);
    expect(first.every((w) => w === 0)).to.equal(true);
    expect(pool.take()).to.equal(first);
  });

  it('a pooled AeadKey, once wiped, keeps only zeros and cannot touch the slot a new key gets', () => {
    const backend = loadSodiumBackend();
    const pool = new SlotPool<Uint8Array>(32, 8, (slab, at) => new Uint8Array(slab, at, 32));
    const secret = new Uint8Array(32).fill(7);
    const old = new AeadKey(backend, secret, pool);
    const sealed = Buffer.alloc(5 + 28);
    old.sealInto(sealed, Buffer.from('hello'));
    old.wipe();
    old.wipe(); // twice is harmless: the slot is not released again
    const fresh = new AeadKey(backend, secret, pool);
    const opened = Buffer.alloc(5);
    expect(fresh.openInto(opened, sealed)).to.equal(5);
    expect(old.openInto(opened, sealed), 'the wiped key no longer opens anything').to.equal(-1);
    const other = new AeadKey(backend, new Uint8Array(32).fill(9), pool);
    expect(fresh.openInto(opened, sealed), 'keys in the pool do not alias').to.equal(5);
    other.wipe();
    fresh.wipe();
  });
});
