import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import type { SessionKeys } from '../../lib/crypto/key-schedule.js';
import { TrafficKeys } from '../../lib/net/traffic-keys.js';

/** TrafficKeys's checks on its keys and its wipe: found by mutation testing (npm run mutate). */
describe('TrafficKeys: construction and wipe', () => {
  const keys = (confirmBytes = 32): SessionKeys => ({ send: randomBytes(32), receive: randomBytes(32), confirm: randomBytes(confirmBytes) });
  const backend = new CommEncryptor().backend;

  it('refuses a confirmation key of the wrong length, saying why', () => {
    expect(() => new TrafficKeys(backend, keys(16), 1, 2, 0)).to.throw(RangeError, /confirmation key/);
  });

  it('its rotation chain is 32 bytes of secret until wiped, zeroed by the wipe, and unreadable after', () => {
    const trafficKeys = new TrafficKeys(backend, keys(), 1, 2, 0);
    const chain = trafficKeys.chain;
    expect(chain.length).to.equal(32);
    expect(chain.some((b) => b !== 0)).to.equal(true);
    trafficKeys.wipe();
    expect(chain.every((b) => b === 0)).to.equal(true);
    expect(() => trafficKeys.chain).to.throw(RangeError, /wiped/);
  });

  it('a second wipe is harmless', () => {
    const trafficKeys = new TrafficKeys(backend, keys(), 1, 2, 0);
    trafficKeys.wipe();
    expect(() => trafficKeys.wipe()).to.not.throw();
  });
});
