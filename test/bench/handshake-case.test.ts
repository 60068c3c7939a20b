import { expect } from 'chai';
import { serverHandshakeCase } from '../../benchmarks/handshake.js';
import type { Answer } from '../../lib/net/handshake/answer.js';
import { loadNobleBackend } from '../../lib/crypto/noble-backend.js';
import { loadSodiumBackend } from '../../lib/crypto/sodium-backend.js';

describe('bench: the server handshake case', () => {
  for (const backend of [loadSodiumBackend(), loadNobleBackend()]) {
    it(`measures a version-2 answer a client accepts (${backend.name}), fresh keys each time`, () => {
      // prepare() completes one handshake on the client side and throws if the client would refuse it.
      const op = serverHandshakeCase.prepare(backend);
      const first = op() as Answer;
      const second = op() as Answer;
      expect(first.reply.length).to.be.greaterThan(100);
      expect(Buffer.from(first.keys.send).equals(Buffer.from(second.keys.send))).to.equal(false);
    });
  }
});
