import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CloseReason, FrameHandler } from '../../lib/net/session.js';
import type { FrameHeaderInput } from '../../lib/protocol/frame.js';
import { decodeMessage, TransferFlags } from '../../lib/protocol/transfer.js';
import { TransferEndpoint, type TransferEvent } from '../../lib/transfer/endpoint.js';
import type { TransferPort } from '../../lib/transfer/port.js';
import { tempDir } from '../helpers/tmp.js';

/** One end of an in-memory link: frames reach the other end's handler on a later turn, as datagrams would. */
class MemoryPort implements TransferPort {
  peer!: MemoryPort;
  handler: FrameHandler | undefined;
  closed = false;
  readonly peerIdentity = null;
  readonly drops: string[] = [];

  constructor(readonly role: 'client' | 'server', readonly peerHost: string) {}

  static pair(): [MemoryPort, MemoryPort] {
    const client = new MemoryPort('client', 'server-host');
    const server = new MemoryPort('server', 'client-host');
    client.peer = server;
    server.peer = client;
    return [client, server];
  }

  sendFrame(header: FrameHeaderInput, payload?: Uint8Array): boolean {
    if (this.closed) return false;
    const body = Buffer.from(payload ?? []);
    const { flags, channel } = header;
    const sequence = Number(header.sequence);
    const offset = Number(header.offset);
    setImmediate(() => {
      if (!this.peer.closed) this.peer.handler?.receiveFrame(flags, channel, sequence, offset, body);
    });
    return true;
  }

  drop(reason: string): void {
    this.drops.push(reason);
  }

  attach(handler: FrameHandler): void {
    this.handler = handler;
  }

  /** Both ends close, as a session does. */
  close(reason: CloseReason): void {
    for (const end of [this, this.peer]) {
      end.closed = true;
      end.handler?.sessionClosed?.(reason);
    }
  }
}

/** Whether a frame the client sends is its `done`. */
function isDone(header: FrameHeaderInput, payload: Uint8Array | undefined): boolean {
  return header.flags === TransferFlags.CONTROL && decodeMessage(Buffer.from(payload ?? []))?.type === 'done';
}

/** A client endpoint about to upload `size` random bytes as data.bin to a server endpoint, joined in memory. */
function uploadSetup(size: number) {
  const [clientPort, serverPort] = MemoryPort.pair();
  const inbox = tempDir('port-inbox');
  const events: TransferEvent[] = [];
  new TransferEndpoint(serverPort, { dir: inbox, onEvent: (event) => events.push(event) });
  const client = new TransferEndpoint(clientPort, { answerPeer: false });
  const data = randomBytes(size);
  const path = join(tempDir('port-outbox'), 'data.bin');
  writeFileSync(path, data);
  return { clientPort, serverPort, inbox, events, client, data, path };
}

describe('transfer/port: endpoints need only a TransferPort, not a session', function () {
  this.timeout(20_000);

  it('uploads a file between two endpoints joined in memory; the receiving one reports it', async () => {
    const { clientPort, serverPort, inbox, events, client, data, path } = uploadSetup(300_000);
    const result = await client.upload(path);
    expect(result).to.include({ name: 'data.bin', direction: 'send', size: data.length, offset: 0 });
    expect(readFileSync(join(inbox, 'data.bin')).equals(data)).to.equal(true);
    expect(events.map((e) => e.kind)).to.deep.equal(['started', 'finished']);
    expect(clientPort.drops).to.deep.equal([]);
    expect(serverPort.drops).to.deep.equal([]);
  });

  it('a file\'s `done` goes with the last of its data, before that data is acknowledged (one round trip less)', async () => {
    const { clientPort, inbox, client, data, path } = uploadSetup(300_000);
    let acked = 0;
    const ackedWhenDone: number[] = [];
    const send = clientPort.sendFrame.bind(clientPort);
    clientPort.sendFrame = (header, payload) => {
      if (isDone(header, payload)) ackedWhenDone.push(acked);
      return send(header, payload);
    };
    const result = await client.upload(path, { onProgress: (done) => { acked = done; } });
    expect(readFileSync(join(inbox, 'data.bin')).equals(data)).to.equal(true);
    expect(result.size).to.equal(data.length);
    expect(ackedWhenDone.length).to.be.greaterThan(0);
    // Frames cross the memory link a turn later each way, so the last one sent cannot be acknowledged yet.
    expect(ackedWhenDone[0]).to.be.below(data.length);
  });

  it('a `done` that overtakes lost data: the receiver waits for the resent bytes, then checks and answers', async () => {
    const { clientPort, serverPort, inbox, events, client, data, path } = uploadSetup(200_000);
    // The first transmission of the file's last datagram is lost, so `done` reaches the receiver first.
    let lost = 0;
    let resent = 0;
    let resentWhenDone = -1;
    const send = clientPort.sendFrame.bind(clientPort);
    clientPort.sendFrame = (header, payload) => {
      const length = payload?.length ?? 0;
      if (header.flags === TransferFlags.DATA && length > 0 && Number(header.offset) + length === data.length) {
        if (lost === 0) {
          lost++;
          return true;
        }
        resent++;
      }
      if (resentWhenDone < 0 && isDone(header, payload)) resentWhenDone = resent;
      return send(header, payload);
    };
    const result = await client.upload(path);
    expect(lost).to.equal(1);
    expect(resentWhenDone).to.equal(0);
    expect(resent).to.be.at.least(1);
    expect(result.stats.retransmits).to.be.at.least(1);
    expect(readFileSync(join(inbox, 'data.bin')).equals(data)).to.equal(true);
    expect(events.map((e) => e.kind)).to.deep.equal(['started', 'finished']);
    expect(serverPort.drops).to.deep.equal([]);
  });

  it('the session closing (the port\'s sessionClosed) stops every transfer with that reason', async () => {
    const [clientPort, serverPort] = MemoryPort.pair();
    new TransferEndpoint(serverPort);
    const client = new TransferEndpoint(clientPort);
    let closedOnce = false;
    const run = client.bandwidth('up', 5, {
      onProgress: () => {
        if (closedOnce) return;
        closedOnce = true;
        clientPort.close('local');
      },
    });
    expect(await run.catch((err: Error) => err.message)).to.equal('the session closed');
    expect(client.active).to.equal(0);
  });
});
