import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TransferMessage } from '../../lib/protocol/transfer.js';
import { PeerSilentError, TransferError } from '../../lib/transfer/transfer-error.js';
import { tempDir } from '../helpers/tmp.js';
import { ScriptedServer } from './scripted-server.js';

/** A server that accepts a download of a megabyte and then says nothing more, as one that was killed. */
const acceptsThenDies = (request: TransferMessage): TransferMessage | undefined =>
  (request.type === 'get' ? { type: 'accept', offset: 0, size: 1_000_000, prefix: '' } : undefined);

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => expect.fail('the transfer finished'), (err: unknown) => err);
}

describe('transfer/peer-silence: a peer that falls silent while our transfers run', function () {
  this.timeout(60_000);

  it('fails the running download with PeerSilentError (ERR_PEER_SILENT) long before the stall time; the part file stays', async () => {
    const out = join(tempDir('silent'), 'big.bin');
    const server = new ScriptedServer(acceptsThenDies, { peerSilenceMs: 1500, stallMs: 600_000 });
    const err = await failureOf(server.endpoint.download('big.bin', { out }));
    expect(err).to.be.instanceOf(PeerSilentError).and.instanceOf(TransferError);
    expect(err).to.include({ code: 'ERR_PEER_SILENT', origin: 'silence', silenceMs: 1500 });
    expect((err as Error).message).to.equal('the peer has sent nothing for 1.5 s: it has stopped, or the path to it is down');
    expect(existsSync(`${out}.part`)).to.equal(true);
    // Nobody is left to tell: no abort goes out, as for any silence.
    expect(server.requests.filter((r) => r.type === 'abort')).to.deep.equal([]);
  });

  it('without peerSilenceMs nothing watches: the same silence ends only at the stall time, as a TransferError of its own', async () => {
    const server = new ScriptedServer(acceptsThenDies, { stallMs: 3000 });
    const err = await failureOf(server.endpoint.download('big.bin', { out: join(tempDir('stall'), 'big.bin') }));
    expect(err).to.be.instanceOf(TransferError).and.not.instanceOf(PeerSilentError);
    expect(err).to.include({ code: 'ERR_TRANSFER', origin: 'silence' });
  });
});
