import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_MAX_DATAGRAM, TRANSFER_OVERHEAD } from '../../lib/constants.js';
import type { CloseReason, FrameHandler } from '../../lib/net/session.js';
import type { FrameHeaderInput } from '../../lib/protocol/frame.js';
import { decodeMessage, TransferFlags } from '../../lib/protocol/transfer.js';
import { clock } from '../../lib/time.js';
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

  /** Every frame this end sent: its flags and payload length. */
  readonly sent: Array<{ flags: number; length: number }> = [];
  /** Rewrites this end's control messages before they go (a test plays an older peer with it). */
  rewrite: ((message: Record<string, unknown>) => Record<string, unknown>) | undefined;

  sendFrame(header: FrameHeaderInput, payload?: Uint8Array): boolean {
    if (this.closed) return false;
    let body = Buffer.from(payload ?? []);
    const { flags, channel } = header;
    this.sent.push({ flags, length: body.length });
    if (this.rewrite && flags === TransferFlags.CONTROL) body = Buffer.from(JSON.stringify(this.rewrite(JSON.parse(body.toString()) as Record<string, unknown>)));
    // As the session does: a short data frame carries only the packet number's low 32 bits.
    const sequence = flags === TransferFlags.SHORT_DATA ? Number(header.sequence) % 2 ** 32 : Number(header.sequence);
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
      if (header.flags === TransferFlags.SHORT_DATA && length > 0 && Number(header.offset) + length === data.length) {
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

  describe('short data frames: to a peer that says it reads them, file data goes in them', () => {
    /** A client and a server joined in memory, the server holding `data.bin` for download; `older` ends speak without `short`. */
    function pair(older: { client?: boolean; server?: boolean } = {}) {
      const [clientPort, serverPort] = MemoryPort.pair();
      const withoutShort = ({ short: _short, ...rest }: Record<string, unknown>): Record<string, unknown> => rest;
      if (older.client) clientPort.rewrite = withoutShort;
      if (older.server) serverPort.rewrite = withoutShort;
      const dir = tempDir('short-server');
      const data = randomBytes(300_000);
      writeFileSync(join(dir, 'data.bin'), data);
      new TransferEndpoint(serverPort, { dir, allowDownload: true });
      const client = new TransferEndpoint(clientPort, { answerPeer: false });
      const path = join(tempDir('short-client'), 'up.bin');
      writeFileSync(path, data);
      return { clientPort, serverPort, client, dir, data, path };
    }

    /** The data frames an end sent (not window probes): their kinds, and the most bytes one carried. */
    function dataFrames(port: MemoryPort): { kinds: Set<string>; most: number } {
      const frames = port.sent.filter((f) => (f.flags === TransferFlags.DATA || f.flags === TransferFlags.SHORT_DATA) && f.length > 0);
      return {
        kinds: new Set(frames.map((f) => (f.flags === TransferFlags.SHORT_DATA ? 'short' : 'original'))),
        most: frames.reduce((most, f) => Math.max(most, f.length), 0),
      };
    }

    const PAYLOAD = DEFAULT_MAX_DATAGRAM - TRANSFER_OVERHEAD;

    it('an upload and a download: every data frame short, each 6 bytes fuller, the files intact', async () => {
      const { clientPort, serverPort, client, dir, data, path } = pair();
      await client.upload(path);
      expect(readFileSync(join(dir, 'up.bin')).equals(data)).to.equal(true);
      expect(dataFrames(clientPort)).to.deep.equal({ kinds: new Set(['short']), most: PAYLOAD + 6 });
      const out = join(tempDir('short-out'), 'data.bin');
      await client.download('data.bin', { out });
      expect(readFileSync(out).equals(data)).to.equal(true);
      expect(dataFrames(serverPort)).to.deep.equal({ kinds: new Set(['short']), most: PAYLOAD + 6 });
      expect(clientPort.drops).to.deep.equal([]);
      expect(serverPort.drops).to.deep.equal([]);
    });

    it('bandwidth tests both ways', async () => {
      const { clientPort, serverPort, client } = pair();
      await client.bandwidth('up', 1);
      await client.bandwidth('down', 1);
      expect(dataFrames(clientPort).kinds).to.deep.equal(new Set(['short']));
      expect(dataFrames(serverPort).kinds).to.deep.equal(new Set(['short']));
    });

    it('to a peer of an older version (no `short` in what it says), the original\'s frames, both ways', async () => {
      const olderServer = pair({ server: true });
      await olderServer.client.upload(olderServer.path);
      await olderServer.client.bandwidth('up', 1);
      expect(readFileSync(join(olderServer.dir, 'up.bin')).equals(olderServer.data)).to.equal(true);
      expect(dataFrames(olderServer.clientPort)).to.deep.equal({ kinds: new Set(['original']), most: PAYLOAD });

      const olderClient = pair({ client: true });
      const out = join(tempDir('short-out'), 'data.bin');
      await olderClient.client.download('data.bin', { out });
      await olderClient.client.bandwidth('down', 1);
      expect(readFileSync(out).equals(olderClient.data)).to.equal(true);
      expect(dataFrames(olderClient.serverPort)).to.deep.equal({ kinds: new Set(['original']), most: PAYLOAD });
    });
  });

  it('a bandwidth test\'s time ends with its last acknowledgement, before the `done` and `result` that follow', async () => {
    const [clientPort, serverPort] = MemoryPort.pair();
    new TransferEndpoint(serverPort);
    const client = new TransferEndpoint(clientPort, { answerPeer: false });
    const message = (header: FrameHeaderInput, payload: Uint8Array | undefined): string | undefined =>
      header.flags === TransferFlags.CONTROL ? decodeMessage(Buffer.from(payload ?? []))?.type : undefined;
    let accepted = -1;
    let doneSent = -1;
    const serverSend = serverPort.sendFrame.bind(serverPort);
    serverPort.sendFrame = (header, payload) => {
      const type = message(header, payload);
      if (type === 'accept' && accepted < 0) accepted = clock();
      // The receiver's answer comes late: a slow check, or a long path.
      if (type === 'result') {
        setTimeout(() => serverSend(header, payload), 300);
        return true;
      }
      return serverSend(header, payload);
    };
    const clientSend = clientPort.sendFrame.bind(clientPort);
    clientPort.sendFrame = (header, payload) => {
      if (message(header, payload) === 'done' && doneSent < 0) doneSent = clock();
      return clientSend(header, payload);
    };
    const up = await client.bandwidth('up', 1);
    expect(accepted).to.be.above(0);
    expect(doneSent).to.be.above(accepted);
    // The sender started after the accept was sent, and its time ended before its `done` went.
    expect(accepted + up.seconds * 1000).to.be.at.most(doneSent);
    expect(up.seconds).to.be.at.least(1);
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
