import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { REKEY_MIN_INTERVAL_MS, SESSION_FRAME_PAYLOAD_BYTES } from '../../lib/constants.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { getDefaultBackend } from '../../lib/crypto/select.js';
import { Counters } from '../../lib/net/counters.js';
import { TrafficKeys } from '../../lib/net/traffic-keys.js';
import { SecureSession, type SecureSessionHost } from '../../lib/net/secure-session.js';
import type { PeerAddress } from '../../lib/net/session.js';
import { resolveTimings } from '../../lib/net/timings.js';
import { Control } from '../../lib/protocol/frame.js';

const backend = getDefaultBackend();
const CLIENT: PeerAddress = { address: '127.0.0.1', port: 1111 };
const SERVER: PeerAddress = { address: '127.0.0.1', port: 2222 };
const timings = resolveTimings({ heartbeatRate: 60_000 });

/**
 * Sessions wired to each other in memory, with virtual time: each side's host delivers what it
 * transmits to whichever session owns the receiver index in the datagram (as a SessionTable does).
 */
class Wire {
  readonly byIndex = new Map<number, SecureSession>();
  readonly queue: Array<{ datagram: Buffer; from: PeerAddress }> = [];
  /** Every datagram's length, in the order sent. */
  readonly sizes: number[] = [];
  /** Drops what it says to (an on-path dropper). */
  dropIf: (datagram: Buffer) => boolean = () => false;
  #nextIndex = 100;

  host(counters: Counters, from: PeerAddress): SecureSessionHost {
    return {
      backend, counters, psk: undefined,
      transmit: (datagram) => {
        counters.packetsOut++;
        this.sizes.push(datagram.length);
        if (!this.dropIf(Buffer.from(datagram))) this.queue.push({ datagram: Buffer.from(datagram), from });
      },
      allocateIndex: () => this.#nextIndex++,
      register: (trafficKeys, session) => this.byIndex.set(trafficKeys.localIndex, session),
      unregister: (trafficKeys) => this.byIndex.delete(trafficKeys.localIndex),
      sessionClosed: () => undefined, sessionConfirmed: () => undefined, sessionRekeyed: () => undefined,
    };
  }

  /** Delivers everything queued (and what that causes) at virtual time `now`. */
  run(now: number): void {
    for (let item = this.queue.shift(); item; item = this.queue.shift()) {
      this.byIndex.get(item.datagram.readUInt32BE(0))?.receive(item.datagram, item.from, now);
    }
  }
}

/** Handshake keys for both sides; `confirm` is what only the two real parties derived. */
function handshakeKeys(): { client: { send: Uint8Array; receive: Uint8Array; confirm: Uint8Array }; server: { send: Uint8Array; receive: Uint8Array; confirm: Uint8Array } } {
  const c2s = randomBytes(32);
  const s2c = randomBytes(32);
  const confirm = randomBytes(32);
  return {
    client: { send: Buffer.from(c2s), receive: Buffer.from(s2c), confirm: Buffer.from(confirm) },
    server: { send: Buffer.from(s2c), receive: Buffer.from(c2s), confirm: Buffer.from(confirm) },
  };
}

function pair(sessionTimings = timings): { wire: Wire; client: SecureSession; server: SecureSession; clientCounters: Counters; serverCounters: Counters; keys: ReturnType<typeof handshakeKeys> } {
  const wire = new Wire();
  const keys = handshakeKeys();
  const copy = (k: { send: Uint8Array; receive: Uint8Array; confirm: Uint8Array }) => ({ send: Buffer.from(k.send), receive: Buffer.from(k.receive), confirm: Buffer.from(k.confirm) });
  const serverCounters = new Counters();
  const clientCounters = new Counters();
  const server = new SecureSession(wire.host(serverCounters, SERVER), 'server', CLIENT, new TrafficKeys(backend, copy(keys.server), 1, 2, 0), sessionTimings, 0);
  const client = new SecureSession(wire.host(clientCounters, CLIENT), 'client', SERVER, new TrafficKeys(backend, copy(keys.client), 2, 1, 0), sessionTimings, 0);
  wire.run(0);
  return { wire, client, server, clientCounters, serverCounters, keys };
}

/** Sends a REKEY_INIT with a fresh key from `session`, as a hostile client can. */
function sendRekeyInit(session: SecureSession, index: number): void {
  const body = Buffer.alloc(SESSION_FRAME_PAYLOAD_BYTES);
  body.set(new CommEncryptor({ backend }).publicKey);
  body.writeUInt32BE(index, 32);
  (session as unknown as { sendControl(type: number, payload: Uint8Array): void }).sendControl(Control.REKEY_INIT, body);
}

describe('key rotation: rate limited, bound to the session it continues, and impossible to stretch', () => {
  it('a flood of rotation requests gets one exchange per interval; the rest are dropped as rekey-limit', () => {
    const { wire, client, server, serverCounters } = pair();
    let answers = 0;
    const receiveFrame = client.receive.bind(client);
    client.receive = (datagram, from, now) => {
      answers++;
      receiveFrame(datagram, from, now);
    };
    for (let i = 0; i < 200; i++) sendRekeyInit(client, 500 + i);
    wire.run(10);
    expect(answers, 'one rekey answer').to.equal(1);
    expect(serverCounters.dropsOf('rekey-limit')).to.equal(199);
    // Still within the interval, and with the first exchange never confirmed: nothing more.
    for (let i = 0; i < 50; i++) sendRekeyInit(client, 800 + i);
    wire.run(REKEY_MIN_INTERVAL_MS + 20);
    expect(answers).to.equal(1);
    expect(serverCounters.dropsOf('rekey-limit')).to.equal(249);
    expect(server.closed).to.equal(false);
  });

  it('a flood of low-order rotation keys (each fails only after its X25519) is rate limited too', () => {
    const { wire, client, serverCounters } = pair();
    const lowOrder = Buffer.alloc(SESSION_FRAME_PAYLOAD_BYTES); // the all-zero point, index 0
    const send = (client as unknown as { sendControl(type: number, payload: Uint8Array): void }).sendControl.bind(client);
    for (let i = 0; i < 100; i++) send(Control.REKEY_INIT, lowOrder.subarray(0, 36));
    wire.run(10);
    expect(serverCounters.dropsOf('low-order'), 'one X25519 was worked on').to.equal(1);
    expect(serverCounters.dropsOf('rekey-limit')).to.equal(99);
    send(Control.REKEY_INIT, lowOrder.subarray(0, 36));
    wire.run(10 + REKEY_MIN_INTERVAL_MS);
    expect(serverCounters.dropsOf('low-order'), 'the next one a second later').to.equal(2);
  });

  it('an honest rotation completes, and the next one is answered once the interval has passed', () => {
    const { wire, client, server, serverCounters } = pair();
    let serverRekeys = 0;
    server.on('rekey', () => serverRekeys++);
    client.rekey(0);
    wire.run(0);
    expect(serverRekeys, 'the client switched and its heartbeat confirmed the new keys').to.equal(1);
    client.rekey(REKEY_MIN_INTERVAL_MS / 2);
    wire.run(REKEY_MIN_INTERVAL_MS / 2);
    expect(serverRekeys, 'too soon').to.equal(1);
    expect(serverCounters.dropsOf('rekey-limit')).to.equal(1);
    // The client repeats its pending request (as its tick does every 250 ms) once the interval has passed.
    client.tick(REKEY_MIN_INTERVAL_MS + 300);
    wire.run(REKEY_MIN_INTERVAL_MS + 300);
    expect(serverRekeys).to.equal(2);
    const got: string[] = [];
    server.on('message', (m) => got.push(m.toString()));
    client.send(Buffer.from('after two rotations'));
    wire.run(REKEY_MIN_INTERVAL_MS + 301);
    expect(got).to.deep.equal(['after two rotations']);
  });

  it('a thief with the traffic keys but not the handshake secret cannot complete a rotation', () => {
    const { wire, server, serverCounters, keys } = pair();
    // The thief holds both traffic keys of the session; the confirmation key (and so the chain
    // secret) never travels, so it has a different one.
    const stolen = { send: Buffer.from(keys.client.send), receive: Buffer.from(keys.client.receive), confirm: randomBytes(32) };
    const thiefCounters = new Counters();
    const thief = new SecureSession(wire.host(thiefCounters, CLIENT), 'client', SERVER, new TrafficKeys(backend, stolen, 2, 1, 0), timings, 0);
    // Its first packets reuse counters the client used (replays); later ones authenticate.
    for (let i = 0; i < 3; i++) thief.send(Buffer.from('warming up'));
    wire.run(1);
    let serverRekeys = 0;
    server.on('rekey', () => serverRekeys++);
    const got: string[] = [];
    server.on('message', (m) => got.push(m.toString()));
    const badAuthBefore = serverCounters.dropsOf('bad-auth');
    thief.rekey(1);
    wire.run(1);
    // The server answered, but the thief's next keys are not the server's.
    thief.send(Buffer.from('taken over'));
    wire.run(2);
    expect(serverRekeys, 'the server never switched to keys the thief can use').to.equal(0);
    expect(got).to.not.include('taken over');
    expect(serverCounters.dropsOf('bad-auth')).to.be.above(badAuthBefore);
  });

  it('every session frame has one size, so a dropper cannot pick out the rotation', () => {
    const { wire, client, server } = pair();
    client.rekey(0);
    wire.run(0);
    // A packet from a new address draws a path challenge, which the client answers.
    client.send(Buffer.alloc(36));
    const [moved] = wire.queue.splice(0);
    server.receive(moved!.datagram, { address: '127.0.0.1', port: 3333 }, 1);
    wire.run(1);
    client.close();
    // Heartbeat, its answer, rekey request and answer, the switch heartbeat and its answer, a
    // 36-byte data message, path challenge and response, close: all 12 + 20 + 36 + 16 bytes.
    expect(new Set(wire.sizes)).to.deep.equal(new Set([84]));
    expect(wire.sizes.length).to.be.at.least(10);
  });

  it('keys past their age limit are refused and both sides close, even when every rotation is dropped', () => {
    expect(resolveTimings().rejectAfterMs, 'WireGuard\'s REJECT_AFTER_TIME by default').to.equal(180_000);
    const fast = resolveTimings({ heartbeatRate: 60_000, rekeyAfterMs: 1000, rejectAfterMs: 1500 });
    const { wire, client, server, serverCounters } = pair(fast);
    // An omniscient dropper removes every rotation request (a real one cannot tell them apart).
    const sendControl = (client as unknown as { sendControl(type: number, payload?: Uint8Array): void }).sendControl.bind(client);
    let dropNext = false;
    (client as unknown as { sendControl(type: number, payload?: Uint8Array): void }).sendControl = (type, payload) => {
      dropNext = type === Control.REKEY_INIT;
      sendControl(type, payload);
    };
    wire.dropIf = () => {
      const drop = dropNext;
      dropNext = false;
      return drop;
    };
    const closes: string[] = [];
    client.on('close', (reason) => closes.push(`client ${reason}`));
    server.on('close', (reason) => closes.push(`server ${reason}`));
    for (let now = 0; now < 1500; now += 100) {
      client.tick(now);
      server.tick(now);
      wire.run(now);
    }
    expect(closes, 'alive until the limit').to.deep.equal([]);
    expect(serverCounters.rekeys).to.equal(0);
    // A packet under the old keys at the limit opens nothing.
    client.send(Buffer.from('late'));
    wire.run(1500);
    expect(serverCounters.dropsOf('expired-keys')).to.equal(1);
    client.tick(1500);
    server.tick(1500);
    expect(closes).to.deep.equal(['client expired', 'server expired']);
  });
});
