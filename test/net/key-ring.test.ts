import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { AEAD_OVERHEAD, REKEY_MIN_INTERVAL_MS } from '../../lib/constants.js';
import { loadNobleBackend } from '../../lib/crypto/noble-backend.js';
import { KeyRing, type KeyRingHost } from '../../lib/net/key-ring.js';
import { TrafficKeys } from '../../lib/net/traffic-keys.js';
import { DEFAULT_TIMINGS } from '../../lib/net/timings.js';

const backend = loadNobleBackend();

/** A host that keeps the index table a session table would. */
function host(firstIndex: number): KeyRingHost<string> & { indexes: Set<number> } {
  let next = firstIndex;
  const indexes = new Set<number>();
  return {
    backend, psk: undefined, indexes,
    allocateIndex: () => next++,
    register: (trafficKeys) => { indexes.add(trafficKeys.localIndex); },
    unregister: (trafficKeys) => { indexes.delete(trafficKeys.localIndex); },
  };
}

/** A client and a server ring over one handshake's keys. */
function pair(now = 0) {
  const [a, b, confirm] = [randomBytes(32), randomBytes(32), randomBytes(32)];
  // A TrafficKeys wipes the buffers it is given: each side gets copies.
  const copy = (bytes: Buffer): Buffer => Buffer.from(bytes);
  const clientHost = host(100);
  const serverHost = host(200);
  const client = new KeyRing(clientHost, 'client', new TrafficKeys(backend, { send: copy(a), receive: copy(b), confirm: copy(confirm) }, 1, 2, now), DEFAULT_TIMINGS);
  const server = new KeyRing(serverHost, 'server', new TrafficKeys(backend, { send: copy(b), receive: copy(a), confirm: copy(confirm) }, 2, 1, now), DEFAULT_TIMINGS);
  return { client, server, clientHost, serverHost };
}

/** Whether what `from` seals now, `to` opens. */
function talks(from: TrafficKeys, to: TrafficKeys | null): boolean {
  const datagram = Buffer.alloc(16 + AEAD_OVERHEAD);
  from.sealInto(datagram, Buffer.alloc(16, 7));
  return to !== null && to.openInto(Buffer.alloc(16), datagram) === 16;
}

describe('net/key-ring: current, previous and next keys, and the rotation between them', () => {
  it('a rotation gives both sides the same next keys; the client switches at once, the server on first use', () => {
    const { client, server, serverHost } = pair();
    const first = client.current;
    const request = client.startRotation(10)!;
    expect(client.startRotation(11), 'one rotation at a time').to.equal(null);
    const response = server.answer(request, 10) as Buffer;
    expect(Buffer.isBuffer(response)).to.equal(true);
    expect(server.answer(request, 12), 'a retransmitted request gets the same answer').to.equal(response);
    const next = server.at(200)!;
    expect(server.isNext(next)).to.equal(true);
    expect(serverHost.indexes).to.deep.equal(new Set([2, 200]));
    expect(client.complete(response, 20)).to.equal('rotated');
    expect(client.complete(response, 21), 'a duplicate answer').to.equal('stale');
    expect(client.current).to.not.equal(first);
    expect(client.at(first.localIndex), 'the previous keys still open late packets').to.equal(first);
    expect(talks(client.current, server.at(client.current.remoteIndex))).to.equal(true);
    server.confirmNext(30);
    expect(server.current).to.equal(next);
    expect(talks(server.current, client.at(server.current.remoteIndex))).to.equal(true);
  });

  it('the server answers one new request per interval and none while its next keys are unconfirmed', () => {
    const { client, server } = pair();
    const other = pair().client;
    server.answer(client.startRotation(0)!, 0);
    expect(server.answer(other.startRotation(REKEY_MIN_INTERVAL_MS * 2)!, REKEY_MIN_INTERVAL_MS * 2)).to.equal('rekey-limit');
    server.confirmNext(1);
    const third = pair().client.startRotation(5)!;
    expect(server.answer(third, 5), 'within the interval').to.equal('rekey-limit');
    expect(server.answer(third, REKEY_MIN_INTERVAL_MS)).to.be.instanceOf(Buffer);
  });

  it('a low-order rotation key is refused after its X25519, and counts against the interval', () => {
    const { server } = pair();
    expect(server.answer(Buffer.alloc(36), 0)).to.equal('low-order');
    expect(server.answer(pair().client.startRotation(1)!, 1)).to.equal('rekey-limit');
  });

  it('is due by age or use, resends an unanswered request, drops the previous keys after the grace, and wipes all', () => {
    const { client, server, clientHost } = pair();
    expect(client.rotationDue(DEFAULT_TIMINGS.rekeyAfterMs - 1)).to.equal(null);
    const request = client.rotationDue(DEFAULT_TIMINGS.rekeyAfterMs)!;
    expect(client.rotationDue(DEFAULT_TIMINGS.rekeyAfterMs + 1), 'not again before the retry time').to.equal(null);
    expect(client.rotationDue(DEFAULT_TIMINGS.rekeyAfterMs + DEFAULT_TIMINGS.rekeyRetryMs)).to.deep.equal(request);
    const at = DEFAULT_TIMINGS.rekeyAfterMs + DEFAULT_TIMINGS.rekeyRetryMs;
    client.complete(server.answer(request, at) as Buffer, at);
    expect(clientHost.indexes.size).to.equal(2);
    client.expirePrevious(at + DEFAULT_TIMINGS.previousKeysGraceMs - 1);
    expect(clientHost.indexes.size).to.equal(2);
    client.expirePrevious(at + DEFAULT_TIMINGS.previousKeysGraceMs);
    expect(clientHost.indexes).to.deep.equal(new Set([client.current.localIndex]));
    client.wipe();
    expect(clientHost.indexes.size).to.equal(0);
  });

  it('a ring that never rotated finds only its current keys, calls a stray answer stale, expires nothing, and wipes its keys', () => {
    const { client, server, clientHost, serverHost } = pair();
    expect(client.at(client.current.localIndex)).to.equal(client.current);
    expect(client.at(client.current.localIndex + 1)).to.equal(null);
    expect(client.isNext(client.current)).to.equal(false);
    expect(client.complete(Buffer.alloc(36), 1)).to.equal('stale');
    client.expirePrevious(DEFAULT_TIMINGS.previousKeysGraceMs * 2);
    expect(clientHost.indexes).to.deep.equal(new Set([1]));
    client.wipe();
    server.wipe();
    expect(clientHost.indexes.size).to.equal(0);
    expect(serverHost.indexes.size).to.equal(0);
    expect(() => client.current.chain, 'the keys were wiped').to.throw(RangeError);
  });

  it('wipes a server\'s unconfirmed next keys and a client\'s half-done request with the current keys', () => {
    const { client, server, serverHost, clientHost } = pair();
    server.answer(client.startRotation(0)!, 0);
    expect(serverHost.indexes.size).to.equal(2);
    expect(clientHost.indexes.size, 'the request\'s index is registered only once answered').to.equal(1);
    server.wipe();
    client.wipe();
    expect(serverHost.indexes.size).to.equal(0);
    expect(clientHost.indexes.size).to.equal(0);
    expect(client.complete(Buffer.alloc(36), 1), 'no rotation waits after a wipe').to.equal('stale');
  });
});
