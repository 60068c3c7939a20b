import { expect } from 'chai';
import { join } from 'node:path';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { HostKeyMismatchError, KnownHosts, trustOnFirstUse } from '../../lib/trust/known-hosts.js';
import { tempDir } from '../helpers/tmp.js';

describe('trust/server-verifier: trust on first use as a connect() policy', () => {
  it('records a new host and tells, accepts it again, fails a changed key naming file and line', () => {
    const knownHosts = new KnownHosts(join(tempDir('tofu'), 'known_hosts'));
    const told: string[] = [];
    const policy = trustOnFirstUse(knownHosts, (host) => told.push(host));
    const key = new CommEncryptor().publicKey;
    expect(policy.expectsIdentity?.('example.org:6711'), 'an unknown host may be first contact').to.equal(false);
    expect(policy.verify('example.org:6711', key)).to.deep.equal({ kind: 'accept' });
    expect(told).to.deep.equal(['example.org:6711']);
    expect(policy.expectsIdentity?.('EXAMPLE.org.:6711'), 'a recorded host, any spelling').to.equal(true);
    expect(policy.verify('example.org:6711', key)).to.deep.equal({ kind: 'accept' });
    expect(told, 'told once').to.have.length(1);
    const changed = policy.verify('example.org:6711', new CommEncryptor().publicKey);
    expect(changed.kind).to.equal('fail');
    const error = (changed as { error: Error }).error;
    expect(error).to.be.instanceOf(HostKeyMismatchError);
    expect(error.message).to.include(`${knownHosts.path}:1`);
  });
});
