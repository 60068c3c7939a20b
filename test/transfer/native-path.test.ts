import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BittrrtProcess } from '../../lib/cli/child.js';
import type { DatagramPath } from '../../lib/net/io/native-binding.js';
import { nativeAvailable } from '../fuzz/native-targets.js';
import { Children, LISTENING, testEnv } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { PATIENCE } from '../helpers/udp.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/**
 * The wire does not depend on the datagram path: a peer on the native addon (batched, sealed by
 * OpenSSL) and a peer on node:dgram (sealed by libsodium) move files both ways, byte-identical.
 */
describe('bin/bittrrt: the native and node:dgram datagram paths interoperate', function () {
  this.timeout(60_000 * PATIENCE);
  const children = new Children();
  afterEach(() => children.cleanup());

  async function serve(path: DatagramPath, dir: string): Promise<{ proc: BittrrtProcess; address: string }> {
    const proc = children.run(['serve', '--bind', '127.0.0.1', '--port', '0', '--dir', dir, '--allow-download'], testEnv({ BITTRRT_IO: path }));
    const [, address] = await proc.waitForLine(LISTENING, 10_000 * PATIENCE);
    return { proc, address: address as string };
  }

  const pairs: [DatagramPath, DatagramPath][] = nativeAvailable() ? [['native', 'dgram'], ['dgram', 'native'], ['native', 'native']] : [['dgram', 'dgram']];
  for (const [serverPath, clientPath] of pairs) {
    it(`server on ${serverPath}, client on ${clientPath}: an upload and a download, byte-identical, each side on the path it was given`, async () => {
      const base = tempDir('paths');
      const inbox = join(base, 'inbox');
      const out = join(base, 'out');
      mkdirSync(inbox);
      mkdirSync(out);
      const up = randomBytes(5 * 1024 * 1024 + 123);
      const down = randomBytes(3 * 1024 * 1024 + 7);
      writeFileSync(join(base, 'up.bin'), up);
      writeFileSync(join(inbox, 'down.bin'), down);
      const server = await serve(serverPath, inbox);
      // The start line names the path the server took.
      const started = server.proc.lines.find((l) => LISTENING.test(l));
      expect(started, server.proc.lines.join('\n')).to.match(serverPath === 'native' ? /datagrams=native \(sendmmsg/ : /datagrams=node:dgram/);

      const client = children.run(['connect', server.address, '--no-pin', '-v', '--send', join(base, 'up.bin'), '--get', 'down.bin', '--out', `${out}/`],
        testEnv({ BITTRRT_IO: clientPath }));
      expect(await client.exited, client.lines.join('\n')).to.equal(0);
      expect(client.lines.filter((l) => /^debug: datagram path /.test(l)), client.lines.join('\n'))
        .to.deep.equal([clientPath === 'native' ? 'debug: datagram path datagrams=native (sendmmsg with GSO, recvmmsg with GRO)' : 'debug: datagram path datagrams=node:dgram']);
      await server.proc.waitForLine(/^received up\.bin /, 15_000 * PATIENCE);
      expect(sha256(readFileSync(join(inbox, 'up.bin')))).to.equal(sha256(up));
      expect(sha256(readFileSync(join(out, 'down.bin')))).to.equal(sha256(down));
      // Nothing was dropped as unauthentic on either side: the two AEADs agree byte for byte.
      expect(client.lines.filter((l) => /bad.auth|warn:|error:/.test(l)), client.lines.join('\n')).to.deep.equal([]);
      server.proc.child.kill('SIGTERM');
      await server.proc.exited;
      const stopped = server.proc.lines.find((l) => /^stopped /.test(l));
      expect(stopped, server.proc.lines.join('\n')).to.match(/ packetsIn=[1-9]\d* /);
      expect(stopped).to.not.match(/drop_bad_auth|drop_bad_frame/);
    });
  }
});
