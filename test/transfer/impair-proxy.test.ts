import { expect } from 'chai';
import type { Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { ImpairmentProxy, type ImpairmentOptions, type ImpairmentStats } from '../helpers/impair.js';
import { closeSocket, eventually, nextDatagram, openLoopbackSocket, sendTo } from '../helpers/udp.js';

const N = 200;

function range(count: number, first = 0): number[] {
  return Array.from({ length: count }, (_, i) => first + i);
}

/** How many active resources of this kind (e.g. 'Timeout', 'UDPWrap') keep the process alive. */
function active(kind: string): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === kind).length;
}

function balanced(stats: ImpairmentStats): boolean {
  return stats.received + stats.duplicated === stats.forwarded + stats.dropped;
}

describe('ImpairmentProxy on loopback UDP', () => {
  let echo: Socket;
  let client: Socket;
  /** Numbers as the echo server received them, and as the client received the echoes. */
  let serverLog: number[];
  let clientLog: number[];
  let proxies: ImpairmentProxy[];

  async function proxy(options: ImpairmentOptions): Promise<ImpairmentProxy> {
    const started = await ImpairmentProxy.start(echo.address().port, options);
    proxies.push(started);
    return started;
  }

  /** Sends datagrams numbered first.. (4 bytes each) from the client to `port`. */
  async function sendNumbered(port: number, count: number, first = 0): Promise<void> {
    for (const n of range(count, first)) {
      const datagram = Buffer.alloc(4);
      datagram.writeUInt32BE(n);
      await sendTo(client, datagram, port);
      // Pause now and then: every socket is served by this one event loop, and a long burst (made up
      // to four times longer by duplication) would overflow their kernel queues and lose datagrams.
      if (n % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  beforeEach(async () => {
    serverLog = [];
    clientLog = [];
    proxies = [];
    echo = await openLoopbackSocket();
    echo.on('message', (msg, rinfo) => {
      serverLog.push(msg.readUInt32BE(0));
      echo.send(msg, rinfo.port, rinfo.address);
    });
    client = await openLoopbackSocket();
    client.on('message', (msg) => clientLog.push(msg.readUInt32BE(0)));
  });
  afterEach(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    await closeSocket(client);
    await closeSocket(echo);
  });

  it('forwards every datagram in order both ways when unimpaired', async () => {
    const p = await proxy({ seed: 1 });
    await sendNumbered(p.port, N);
    expect(await eventually(() => clientLog.length === N, 2000), 'all echoes back').to.equal(true);
    expect(serverLog).to.deep.equal(range(N));
    expect(clientLog).to.deep.equal(range(N));
    expect(p.toServer).to.deep.equal({ received: N, forwarded: N, dropped: 0, duplicated: 0, reordered: 0 });
    expect(p.toClient).to.deep.equal({ received: N, forwarded: N, dropped: 0, duplicated: 0, reordered: 0 });
  });

  it('drops about the given share, the same datagrams for the same seed', async () => {
    const count = 500;
    const lostBySeed: number[][] = [];
    for (const seed of [7, 7, 8]) {
      serverLog = [];
      const p = await proxy({ seed, drop: 0.3 });
      await sendNumbered(p.port, count);
      const settled = () => p.toServer.received === count && serverLog.length === p.toServer.forwarded;
      expect(await eventually(settled, 2000), 'every datagram reached the proxy').to.equal(true);
      const arrived = new Set(serverLog);
      const lost = range(count).filter((n) => !arrived.has(n));
      expect(p.toServer.dropped).to.equal(lost.length);
      expect(lost.length).to.be.within(0.15 * count, 0.45 * count);
      lostBySeed.push(lost);
    }
    expect(lostBySeed[1], 'same seed, same losses').to.deep.equal(lostBySeed[0]);
    expect(lostBySeed[2], 'another seed, other losses').to.not.deep.equal(lostBySeed[0]);
  });

  it('sends every datagram twice with duplicate 1.0', async () => {
    const count = 100;
    const p = await proxy({ seed: 2, duplicate: 1 });
    // Duplicated on the way to the server, and each echo again on the way back: four datagrams reach
    // the client for each sent, so send in batches lest the client's kernel queue overflow.
    for (let first = 0; first < count; first += 10) {
      await sendNumbered(p.port, 10, first);
      expect(await eventually(() => clientLog.length === 4 * (first + 10), 1000), 'all copies back').to.equal(true);
    }
    expect([...serverLog].sort((a, b) => a - b)).to.deep.equal(range(count).flatMap((n) => [n, n]));
    expect([...clientLog].sort((a, b) => a - b)).to.deep.equal(range(count).flatMap((n) => [n, n, n, n]));
    expect(p.toServer.duplicated).to.equal(count);
    expect(p.toClient.duplicated).to.equal(2 * count);
    expect(balanced(p.toServer) && balanced(p.toClient), 'stats add up').to.equal(true);
  });

  it('reorders some datagrams and loses none with reorder 0.5', async () => {
    const p = await proxy({ seed: 3, reorder: 0.5 });
    await sendNumbered(p.port, N);
    expect(await eventually(() => clientLog.length === N, 2000), 'all echoes back').to.equal(true);
    expect(serverLog.some((n, i) => i > 0 && n < serverLog[i - 1]!), 'out of order at the server').to.equal(true);
    expect([...clientLog].sort((a, b) => a - b)).to.deep.equal(range(N));
    expect(p.toServer.reordered).to.be.greaterThan(0);
    expect(balanced(p.toServer) && balanced(p.toClient), 'stats add up').to.equal(true);
  });

  it('adds the fixed delay in each direction', async () => {
    const p = await proxy({ seed: 4, delayMs: 30 });
    const started = performance.now();
    await sendNumbered(p.port, 1);
    expect(await nextDatagram(client, 10_000), 'the echo').to.not.equal(null);
    // Two hops of 30 ms; node's timers may fire a millisecond or two early against performance.now().
    expect(performance.now() - started).to.be.at.least(55);
  });

  it('impairs only the chosen direction', async () => {
    const p = await proxy({ seed: 5, drop: 1, direction: 'to-client' });
    await sendNumbered(p.port, 10);
    expect(await eventually(() => p.toClient.dropped === 10, 1000), 'echoes dropped').to.equal(true);
    expect(serverLog).to.deep.equal(range(10));
    expect(clientLog).to.deep.equal([]);
  });

  it('set() changes the impairment of a running link', async () => {
    const p = await proxy({ seed: 6 });
    await sendNumbered(p.port, 10);
    expect(await eventually(() => clientLog.length === 10, 1000)).to.equal(true);
    p.set({ drop: 1 });
    await sendNumbered(p.port, 10, 10);
    expect(await eventually(() => p.toServer.dropped === 10, 1000)).to.equal(true);
    p.set({ drop: 0 });
    await sendNumbered(p.port, 1, 20);
    expect(await eventually(() => clientLog.length === 11, 1000)).to.equal(true);
    expect(clientLog).to.deep.equal([...range(10), 20]);
  });

  it('pause() passes nothing until resume()', async () => {
    const p = await proxy({ seed: 7 });
    p.pause();
    await sendNumbered(p.port, 5);
    expect(await nextDatagram(client, 100), 'nothing while paused').to.equal(null);
    expect(serverLog).to.deep.equal([]);
    expect(p.toServer.dropped).to.equal(5);
    p.resume();
    await sendNumbered(p.port, 1, 5);
    expect(await eventually(() => clientLog.length === 1, 1000), 'the link is back').to.equal(true);
    expect(clientLog).to.deep.equal([5]);
  });

  it('pause() loses the datagrams in flight', async () => {
    const p = await proxy({ seed: 8, delayMs: 50 });
    await sendNumbered(p.port, 3);
    expect(await eventually(() => p.toServer.received === 3, 1000)).to.equal(true);
    p.pause();
    expect(p.toServer.dropped).to.equal(3);
    expect(await nextDatagram(echo, 100), 'nothing reaches the server').to.equal(null);
    expect(balanced(p.toServer), 'stats add up').to.equal(true);
  });

  it('close() cancels pending datagrams and releases every timer and socket', async () => {
    const sockets = active('UDPWrap');
    const p = await proxy({ seed: 9, delayMs: 5000, reorder: 0.5 });
    // Counted after an await: mocha starts its timeout timer once the test function has returned.
    const timers = active('Timeout');
    await sendNumbered(p.port, 10);
    expect(await eventually(() => p.toServer.received === 10, 1000)).to.equal(true);
    expect(active('Timeout'), 'delayed datagrams pending').to.be.greaterThan(timers);
    await Promise.all([p.close(), p.close()]);
    await p.close();
    expect(active('Timeout')).to.equal(timers);
    // The 'close' event comes a tick before libuv releases the handles.
    expect(await eventually(() => active('UDPWrap') === sockets, 500), 'both sockets released').to.equal(true);
    expect(await nextDatagram(echo, 100), 'nothing sent after close').to.equal(null);
    expect(serverLog).to.deep.equal([]);
  });
});
