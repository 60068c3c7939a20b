import { expect } from 'chai';
import { deriveNetworkKeys } from '../../lib/crypto/network-key.js';
import { InvalidInputError } from '../../lib/errors.js';
import { hex } from '../helpers/fixtures.js';

describe('network key derivation', () => {
  // HKDF-SHA256 (no salt) of the key 00 01 .. 1f under each label, computed with Python's hmac module.
  const RAW = Uint8Array.from({ length: 32 }, (_, i) => i);

  it('derives the Fernet signing and encryption keys and the psk under their own labels (vectors)', () => {
    const keys = deriveNetworkKeys(RAW);
    expect(hex(keys.fernetKey)).to.equal('db173faa53e8cac74a9c13825b44c856' + '3fafcf56bb1957e542e489a3c2401fc6');
    expect(hex(keys.psk)).to.equal('be56d0c69a7c599e4d2720a52dfe71ddddef862705e428bd2a3e0fda8aa6fedf');
  });

  it('no derived key is the network key or a part of it', () => {
    const raw = Buffer.from(RAW);
    const { fernetKey, psk } = deriveNetworkKeys(RAW);
    expect(raw.equals(psk)).to.equal(false);
    expect(raw.equals(fernetKey)).to.equal(false);
    expect(Buffer.from(fernetKey.subarray(0, 16)).equals(fernetKey.subarray(16))).to.equal(false);
    expect(raw.includes(Buffer.from(fernetKey.subarray(0, 16)))).to.equal(false);
    expect(raw.includes(Buffer.from(fernetKey.subarray(16)))).to.equal(false);
  });

  it('refuses a network key that is not 32 bytes', () => {
    for (const size of [0, 16, 31, 33, 64]) expect(() => deriveNetworkKeys(new Uint8Array(size)), `${size}`).to.throw(InvalidInputError, '32 bytes');
  });
});
