/**
 * Captures the fuzz seed corpus: real servers and library clients on loopback, talking through a
 * UDP relay that records every datagram both ways; each is saved, labelled, as a hex line in
 * test/fixtures/corpus/*.hex. Run once (from the project root) and commit the output:
 *
 *   npx tsc -p . && node dist/test/fuzz/capture-corpus.js
 *
 * Keys are fresh every run, so a capture never equals the last one; nothing depends on that.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { DoCrypt } from '../../lib/crypto/docrypt.js';
import { connect, type ConnectOptions } from '../../lib/net/client.js';
import { createServer, type BittrrtServer, type ServerOptions } from '../../lib/net/server.js';
import type { SecureSession } from '../../lib/net/secure-session.js';
import type { Session } from '../../lib/net/session.js';
import { fixturePath } from '../helpers/fixtures.js';
import { Relay } from '../helpers/relay.js';
import { eventually } from '../helpers/udp.js';
import { formatHexCorpus, type CorpusFile } from './corpus.js';

/** No timer-driven heartbeats during a capture, so every datagram is the one an action caused. */
const QUIET = { heartbeatRate: 60_000 };

interface Labelled {
  label: string;
  bytes: Buffer;
}

const files: Record<CorpusFile, Labelled[]> = { connect: [], answer: [], 'v2-client': [], 'v2-server': [], v1: [] };

class Capture {
  readonly server: BittrrtServer;
  relay!: Relay;
  port = 0;
  private constructor(options: ServerOptions) {
    this.server = createServer({ timings: QUIET, ...options });
  }

  static async start(options: ServerOptions = {}): Promise<Capture> {
    const capture = new Capture(options);
    capture.port = (await capture.server.listen(0, '127.0.0.1')).port;
    capture.relay = await Relay.start(capture.port);
    return capture;
  }

  /**
   * Runs `action`, waits for exactly the datagrams it should cause in each direction, and files
   * them under the given [file, label] pairs, in order.
   */
  async step(action: () => Promise<unknown> | unknown, toServer: Array<[CorpusFile, string]>, toClient: Array<[CorpusFile, string]>): Promise<void> {
    const up = this.relay.toServer.length;
    const down = this.relay.toClient.length;
    await action();
    const arrived = await eventually(() => this.relay.toServer.length >= up + toServer.length && this.relay.toClient.length >= down + toClient.length, 5000);
    // Anything beyond what was expected (a retransmission) would shift the labels.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const got = [this.relay.toServer.length - up, this.relay.toClient.length - down];
    if (!arrived || got[0] !== toServer.length || got[1] !== toClient.length) {
      throw new Error(`expected ${toServer.length}/${toClient.length} datagrams, got ${got[0]}/${got[1]} for ${JSON.stringify(toServer.concat(toClient))}`);
    }
    toServer.forEach(([file, label], i) => files[file].push({ label, bytes: this.relay.toServer[up + i]! }));
    toClient.forEach(([file, label], i) => files[file].push({ label, bytes: this.relay.toClient[down + i]! }));
  }

  client(options: ConnectOptions = {}): Promise<Session> {
    return connect({ host: '127.0.0.1', port: this.relay.port, timings: QUIET, ...options });
  }

  nextSession(): Promise<Session> {
    return new Promise((resolve) => this.server.once('session', resolve));
  }

  async close(): Promise<void> {
    await this.relay.close();
    await this.server.close();
  }
}

async function captureV2(): Promise<void> {
  const c = await Capture.start();
  let session!: Session;
  let peer!: Promise<Session>;
  await c.step(async () => {
    peer = c.nextSession();
    session = await c.client();
  }, [['connect', 'v2 connect, seed form'], ['v2-client', 'v2 heartbeat, client first packet (confirms the keys)']],
  [['answer', 'v2 connected, seed form'], ['v2-server', 'v2 heartbeat ack to the first heartbeat']]);
  const serverSide = await peer;
  await c.step(() => session.send(Buffer.from('hello server'), 7), [['v2-client', 'v2 data, channel 7, 12 bytes']], []);
  await c.step(() => session.send(Buffer.alloc(0)), [['v2-client', 'v2 data, channel 0, empty']], []);
  await c.step(() => session.send(Buffer.alloc(1000, 0x5a), 0xff_ffff), [['v2-client', 'v2 data, channel 0xffffff, 1000 bytes']], []);
  await c.step(() => serverSide.send(Buffer.from('hello client'), 3), [], [['v2-server', 'v2 data, channel 3, server to client']]);
  await c.step(() => session.ping(), [['v2-client', 'v2 heartbeat (ping)']], [['v2-server', 'v2 heartbeat ack']]);
  await c.step(() => serverSide.ping(), [['v2-client', 'v2 heartbeat ack (client answers the server ping)']], [['v2-server', 'v2 heartbeat (server ping)']]);
  await c.step(() => (session as SecureSession).rekey(), [['v2-client', 'v2 control rekey-init'], ['v2-client', 'v2 heartbeat under the new keys']],
    [['v2-server', 'v2 control rekey-response'], ['v2-server', 'v2 heartbeat ack under the new keys']]);
  await c.step(() => session.send(Buffer.from('after rekey'), 1), [['v2-client', 'v2 data after rekey']], []);
  await c.step(() => session.close(), [['v2-client', 'v2 control close (client)']], []);
  await c.close();
}

async function captureV2Variants(): Promise<void> {
  // Salted form, closed by the server.
  const c = await Capture.start();
  let session!: Session;
  let peer!: Promise<Session>;
  await c.step(async () => {
    peer = c.nextSession();
    session = await c.client({ form: 'salted' });
  }, [['connect', 'v2 connect, salted form'], ['v2-client', 'v2 heartbeat, client first packet (salted-form session)']],
  [['answer', 'v2 connected, salted form'], ['v2-server', 'v2 heartbeat ack (salted-form session)']]);
  const serverSide = await peer;
  await c.step(() => serverSide.close(), [], [['v2-server', 'v2 control close (server)']]);
  session.close();
  await c.close();

  // A client with an identity key (cid).
  const d = await Capture.start();
  await d.step(async () => {
    session = await d.client({ identity: new CommEncryptor() });
  }, [['connect', 'v2 connect with client identity (cid), seed form'], ['v2-client', 'v2 heartbeat, first packet of a client with identity']],
  [['answer', 'v2 connected to a client with identity'], ['v2-server', 'v2 heartbeat ack (client with identity)']]);
  session.close();
  await d.close();

  // A server under load: the first connect gets a cookie, the second carries it.
  const e = await Capture.start({ rateLimits: { globalBurst: 2, globalRate: 0.001 } });
  for (let i = 0; i < 2; i++) (await connect({ host: '127.0.0.1', port: e.port, timings: QUIET })).close();
  await e.step(async () => {
    session = await e.client();
  }, [['connect', 'v2 connect to a server under load (answered with a cookie)'], ['connect', 'v2 connect carrying the cookie'],
    ['v2-client', 'v2 heartbeat, first packet after a cookie handshake']],
  [['answer', 'v2 cookie reply'], ['answer', 'v2 connected after the cookie'], ['v2-server', 'v2 heartbeat ack after a cookie handshake']]);
  session.close();
  await e.close();
}

async function captureV1(form: 'seed' | 'salted'): Promise<void> {
  const c = await Capture.start();
  let session!: Session;
  let peer!: Promise<Session>;
  await c.step(async () => {
    peer = c.nextSession();
    session = await c.client({ protocolVersion: 1, form });
  }, [['connect', `v1 connect, ${form} form`]], [['answer', `v1 connected, ${form} form`]]);
  const serverSide = await peer;
  await c.step(() => session.send(Buffer.from(`seed message, ${form} session`)), [['v1', `v1 message, client to server (${form}-form session)`]], []);
  await c.step(() => serverSide.send(Buffer.from('seed answer')), [], [['v1', `v1 message, server to client (${form}-form session)`]]);
  if (form === 'seed') await c.step(() => session.send(Buffer.alloc(0)), [['v1', 'v1 message, empty']], []);
  session.close();
  await c.close();
}

/** Checks each captured handshake token decrypts under the public key to what its label says. */
function checkTokens(): void {
  const docrypt = new DoCrypt();
  for (const p of [...files.connect, ...files.answer]) {
    const { plaintext, form } = docrypt.fdecrypt(p.bytes);
    const json = JSON.parse(plaintext.toString('utf8')) as Record<string, unknown>;
    const cmd = p.label.includes('cookie reply') ? 'cookie' : p.label.includes('connected') ? 'connected' : 'connect';
    if (json.cmd !== cmd) throw new Error(`${p.label}: cmd is ${String(json.cmd)}`);
    if (p.label.includes('salted') !== (form === 'salted')) throw new Error(`${p.label}: form is ${form}`);
  }
}

async function main(): Promise<void> {
  await captureV2();
  await captureV2Variants();
  await captureV1('seed');
  await captureV1('salted');
  checkTokens();
  const dir = path.join(path.dirname(fixturePath('python-bittrrt.json')), 'corpus');
  mkdirSync(dir, { recursive: true });
  const about = (file: string): string => `fuzz seed corpus (${file}): real datagrams captured on loopback by test/fuzz/capture-corpus.ts.\n`
    + 'One datagram per hex line; the comment above each says what it is. Keys of these sessions are gone.';
  for (const [file, packets] of Object.entries(files)) {
    writeFileSync(path.join(dir, `${file}.hex`), formatHexCorpus(about(file), packets));
    console.log(`${file}.hex: ${packets.length} datagrams`);
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
