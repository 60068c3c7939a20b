import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { TransferFileError } from '../../lib/transfer/files.js';
import { StreamSink } from '../../lib/transfer/stream-sink.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('StreamSink (downloads to standard output)', () => {
  it('writes every chunk in order and accepts the matching hash', async () => {
    const out = new PassThrough();
    const seen: Buffer[] = [];
    out.on('data', (chunk: Buffer) => seen.push(chunk));
    const sink = new StreamSink(out, 'standard output');
    const parts = [Buffer.from('hello '), Buffer.from('pipe'), Buffer.from(' world')];
    await sink.write(parts.slice(0, 2));
    await sink.write(parts.slice(2));
    await sink.finish(sha256(Buffer.concat(parts)));
    expect(Buffer.concat(seen).toString()).to.equal('hello pipe world');
  });

  it('a hash mismatch rejects with a TransferFileError that tells the peer no local name', async () => {
    const sink = new StreamSink(new PassThrough(), 'standard output');
    await sink.write([Buffer.from('some bytes')]);
    const err = await sink.finish(sha256(Buffer.from('other bytes'))).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(TransferFileError);
    expect((err as TransferFileError).message).to.equal('SHA-256 mismatch: the bytes written to standard output differ from the sender\'s file');
    expect((err as TransferFileError).peerReason).to.equal('SHA-256 mismatch: the received data differs from the sender\'s file');
  });

  it('a reader that went away fails the write in a sentence, without crashing', async () => {
    const out = new Writable({
      write: (_chunk, _encoding, done) => done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })),
    });
    const sink = new StreamSink(out, 'standard output');
    const err = await sink.write([Buffer.from('x')]).then(() => null, (e: unknown) => e);
    expect((err as Error).message).to.equal('standard output: the reader closed the pipe');
    const later = await sink.finish(sha256(Buffer.from('x'))).then(() => null, (e: unknown) => e);
    expect(later).to.be.instanceOf(TransferFileError);
  });
});
