import { expect } from 'chai';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { PersistentClient } from '../../lib/net/persistent.js';
import { createServer } from '../../lib/net/server.js';
import { readAuthorizedKeys } from '../../lib/trust/authorized-keys.js';
import { KeyFileError } from '../../lib/trust/key-file.js';
import { HostKeyMismatchError, KnownHosts, trustOnFirstUse } from '../../lib/trust/known-hosts.js';
import { tempDir } from '../helpers/tmp.js';

describe('PersistentClient', function () {
  this.timeout(20_000);

  it('keeps retrying, with backoff, while the host name does not resolve, until stopped', async () => {
    const client = new PersistentClient({ host: 'no-such-host.invalid', port: 6711 });
    const delays: number[] = [];
    const errors: string[] = [];
    client.on('retry', (delayMs, err) => {
      delays.push(delayMs);
      errors.push(err.message);
      if (delays.length === 3) client.stop();
    });
    await client.run();
    expect(delays).to.deep.equal([500, 1000, 2000]);
    expect(errors[0]).to.include('cannot resolve host');
  });

  it('gives up at once when the server identity changed', async () => {
    const server = createServer();
    const { port } = await server.listen(0, '127.0.0.1');
    const knownHosts = new KnownHosts(join(tempDir('pc'), 'known_hosts'));
    knownHosts.record(`127.0.0.1:${port}`, new CommEncryptor().publicKey);
    try {
      const client = new PersistentClient({ host: '127.0.0.1', port, verifyServer: trustOnFirstUse(knownHosts) });
      const err = await client.run().then(() => null, (e: unknown) => e);
      expect(err).to.be.instanceOf(HostKeyMismatchError);
    } finally {
      await server.close();
    }
  });
});

describe('authorized keys file permissions', () => {
  it('refuses a file that others can write', () => {
    const path = join(tempDir('ak'), 'authorized_keys');
    writeFileSync(path, `${'A'.repeat(43)}=\n`);
    chmodSync(path, 0o644);
    expect(readAuthorizedKeys(path).size).to.equal(1);
    chmodSync(path, 0o666);
    expect(() => readAuthorizedKeys(path)).to.throw(KeyFileError, /writable by others \(mode 666\); run: chmod go-w/);
  });
});
