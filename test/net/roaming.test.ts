import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '../../lib/net/client.js';
import type { SecureSession } from '../../lib/net/secure-session.js';
import type { BittrrtServer } from '../../lib/net/server.js';
import { createServer } from '../../lib/transfer/file-server.js';
import type { Session } from '../../lib/net/session.js';
import { encodeAck, TransferFlags } from '../../lib/protocol/transfer.js';
import { TransferEndpoint } from '../../lib/transfer/endpoint.js';
import { Relay } from '../helpers/relay.js';
import { tempDir } from '../helpers/tmp.js';
import { closeSocket, eventually, openLoopbackSocket, PATIENCE } from '../helpers/udp.js';

/**
 * The amplification attack of the protocol review, performed: an authenticated client forges a
 * third party's source address, starts a download and keeps it going with acknowledgements from
 * that address, or acknowledges what it never received. The third party must get no more than
 * three times what came from its address, and the sender must notice the lie.
 */
describe('roaming and acknowledgements cannot aim a server at a third party', function () {
  this.timeout(60_000 * PATIENCE);
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function serveFile(size: number): Promise<{ server: BittrrtServer; port: number; name: string; data: Buffer }> {
    const dir = tempDir('roam');
    const data = randomBytes(size);
    writeFileSync(join(dir, 'big.bin'), data);
    const server = createServer({ handshakeThreads: 0, files: { dir, allowDownload: true } });
    const { port } = await server.listen(0, '127.0.0.1');
    cleanups.push(() => server.close());
    return { server, port, name: 'big.bin', data };
  }

  async function victim(): Promise<{ socket: Socket; received: () => number }> {
    const socket = await openLoopbackSocket();
    let bytes = 0;
    socket.on('message', (msg) => {
      bytes += msg.length;
    });
    cleanups.push(() => closeSocket(socket));
    return { socket, received: () => bytes };
  }

  function serverSession(server: BittrrtServer): Session {
    const [only] = [...server.sessions()];
    if (!only) throw new Error('no server session');
    return only;
  }

  it('a forged source address gets path challenges only, at most 3x its bytes; the real peer keeps its download', async () => {
    const { server, port, name, data } = await serveFile(4 * 1024 * 1024);
    const relay = await Relay.start(port);
    cleanups.push(() => relay.close());
    const session = await connect({ host: '127.0.0.1', port: relay.port, allowSeed: false });
    cleanups.push(() => session.close());
    await eventually(() => server.sessionCount === 1 && serverSession(server).confirmed, 10_000);
    const validated = relay.upstreamPort;
    const target = await victim();

    // From here on every datagram of the client reaches the server from the victim's address:
    // the download request and every acknowledgement of it.
    relay.spoofVia(target.socket);
    const out = join(tempDir('roam-out'), name);
    const result = await new TransferEndpoint(session).download(name, { out });
    relay.spoofVia(null);

    expect(result.size).to.equal(data.length);
    expect(readFileSync(out).equals(data), 'the download arrived whole, over the validated path').to.equal(true);
    expect(relay.spoofedBytes, 'the attack sent from the victim address').to.be.above(data.length / 1000);
    expect(target.received(), 'the victim got the path challenges').to.be.above(0);
    expect(target.received(), 'at most 3x what came from its address').to.be.at.most(3 * relay.spoofedBytes);
    // Nothing but challenges: the 4 MiB went to the validated address.
    expect(target.received()).to.be.below(data.length / 10);
    expect(serverSession(server).remote.port, 'the session stayed on the validated address').to.equal(validated);
    expect(server.counters.pathChallenges).to.be.above(0);
  });

  it('acknowledging packets before they arrive stops the transfer, counted as optimistic-ack', async () => {
    const { server, port, name } = await serveFile(16 * 1024 * 1024);
    const session = (await connect({ host: '127.0.0.1', port, allowSeed: false })) as SecureSession;
    cleanups.push(() => session.close());
    const endpoint = new TransferEndpoint(session);
    // The client's receiver never sees data: each data frame is answered with an acknowledgement
    // of 64 packets and bytes beyond it, as an optimistic receiver would to make the server go faster.
    const honest = session.frameHandler!;
    let forged = 0;
    session.frameHandler = {
      receiveFrame: (flags, channel, sequence, offset, body) => {
        if (flags !== TransferFlags.DATA && flags !== TransferFlags.SHORT_DATA) return honest.receiveFrame(flags, channel, sequence, offset, body);
        forged++;
        session.sendUnlossy({ flags: TransferFlags.ACK, channel, sequence: sequence + 64, offset: offset + 64 * body.length },
          encodeAck({ windowEnd: 1 << 30, delayMicros: 0, spans: [] }));
      },
    };
    const err = await endpoint.download(name, { out: join(tempDir('roam-out'), name) }).then(() => null, (e: Error) => e);
    expect(err?.message).to.match(/acknowledged a packet that was never sent/);
    expect(forged).to.be.above(0);
    expect(server.counters.dropsOf('optimistic-ack')).to.equal(1);
    // The server stopped within its first flight, far short of the file.
    expect(server.counters.bytesOut).to.be.below(2 * 1024 * 1024);
  });

  it('a peer that really moves keeps its session: one path check, then traffic follows it, and the server logs the move', async () => {
    const lines: string[] = [];
    const record = (message: string, fields?: Record<string, unknown>): void => {
      lines.push(`${message} ${JSON.stringify(fields ?? {})}`);
    };
    const server = createServer({
      handshakeThreads: 0,
      logger: { isEnabled: () => true, debug: () => undefined, info: record, warn: record, error: record },
    });
    const { port } = await server.listen(0, '127.0.0.1');
    cleanups.push(() => server.close());
    const relay = await Relay.start(port);
    cleanups.push(() => relay.close());
    const session = await connect({ host: '127.0.0.1', port: relay.port, allowSeed: false });
    cleanups.push(() => session.close());
    await eventually(() => server.sessionCount === 1 && serverSession(server).confirmed, 10_000);
    const peer = serverSession(server);
    const before = relay.upstreamPort;
    await relay.rebind();
    const moved = new Promise<number>((resolve) => peer.once('roam', (to) => resolve(to.port)));
    session.send(Buffer.from('from the new port'));
    expect(await moved).to.equal(relay.upstreamPort);
    const reply = new Promise<string>((resolve) => session.once('message', (m) => resolve(m.toString())));
    peer.send(Buffer.from('found you'));
    expect(await reply).to.equal('found you');
    expect(server.counters.pathChallenges).to.equal(1);
    expect(lines.some((l) => l.startsWith('peer moved') && l.includes(`:${before}`) && l.includes(`:${relay.upstreamPort}`))).to.equal(true);
  });
});
