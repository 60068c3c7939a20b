import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSocket, type Socket } from 'node:dgram';
import { DoCrypt } from '../../lib/crypto/docrypt.js';
import { connect } from '../../lib/net/client.js';
import { encodeInitiation } from '../../lib/protocol/handshake-v2.js';
import { encodeHandshake } from '../../lib/protocol/handshake.js';
import { CMD_CONNECT, NEGOTIATION_REPEAT } from '../../lib/constants.js';
import { Children } from '../helpers/cli.js';
import { closeSocket, PATIENCE } from '../helpers/udp.js';

const FLOOD_DATAGRAMS = 200_000;
/** The server's handshake budget (--handshake-rate), per second. */
const HANDSHAKE_RATE = 100;
/** The flood goes on past FLOOD_DATAGRAMS until the legitimate client is through, up to this. */
const FLOOD_CEILING = 10 * FLOOD_DATAGRAMS;
/**
 * The flood comes from many hosts (loopback addresses 127.0.1.x; Linux routes all of 127/8 to lo),
 * several ports each: limits are per host, so one host alone could not load the server.
 */
const SOURCE_HOSTS = 128;
const PORTS_PER_HOST = 4;
const SOURCE_PORTS = SOURCE_HOSTS * PORTS_PER_HOST;

async function socketOn(address: string): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return socket;
}

/**
 * Bytes waiting in the receive queue of the UDP socket bound to 127.0.0.1:`port` (Linux's
 * /proc/net/udp), or 0 if there is none.
 */
function receiveQueueOf(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local) return parseInt(fields[4]!.split(':')[1]!, 16);
  }
  return 0;
}

/**
 * The flood waits while the server's socket holds more than this. A flood the server cannot read
 * fast enough only makes the kernel drop datagrams, the legitimate client's among them, at a rate
 * set by how busy the machine is: that tests the machine, not the server. Paced by what the server
 * reads, the flood still offers far more handshakes than the server's budget (its load mode) while
 * every datagram reaches the server's code.
 */
const RECEIVE_QUEUE_CEILING = 64 * 1024;

/** Resident memory of a process, in bytes (Linux). */
function rssOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(kb?.[1]) * 1024;
}

/** Valid-looking handshakes: real Fernet tokens under the public key, random ephemeral keys. */
function validLookingConnects(count: number): Buffer[] {
  const docrypt = new DoCrypt();
  return Array.from({ length: count }, (_, i) => {
    const pubkey = randomBytes(32);
    const json = i % 2 === 0
      ? encodeInitiation({ version: 2, ephemeralPublic: pubkey, index: i })
      : encodeHandshake(CMD_CONNECT, pubkey);
    return Buffer.from(docrypt.fencrypt(json, { form: i % 4 === 1 ? 'salted' : 'seed' }));
  });
}

function junk(i: number): Buffer {
  switch (i % 4) {
    case 0: return randomBytes(1 + (i % 1400));
    case 1: return Buffer.concat([Buffer.from('gAAAAA'), randomBytes(i % 300)]);
    case 2: return Buffer.alloc(i % 2000, 0x67);
    default: return randomBytes(48);
  }
}

describe('abuse resistance under a flood', function () {
  this.timeout(120_000 * PATIENCE);
  const children = new Children();
  afterEach(() => children.cleanup());

  it(`a legitimate client gets through ${FLOOD_DATAGRAMS.toLocaleString('en')} junk and valid-looking connects; memory stays bounded; no amplification`, async () => {
    // A handshake budget well below what the flood offers, even to a server that gets little
    // CPU on a busy machine, so the server reaches its load mode.
    const serverStarted = Date.now();
    const server = await children.serve(['--json', '--handshake-rate', String(HANDSHAKE_RATE)]);
    const pid = server.proc.child.pid!;
    const rssBefore = rssOf(pid);
    const sockets: Socket[] = await Promise.all(Array.from({ length: SOURCE_PORTS }, (_, i) => socketOn(`127.0.1.${i % SOURCE_HOSTS}`)));
    let bytesBack = 0;
    for (const s of sockets) s.on('message', (msg) => { bytesBack += msg.length; });
    const connects = validLookingConnects(25_000);
    let bytesSent = 0;
    let legit: Promise<number> | undefined;
    // The flood lasts until the legitimate client is through (FLOOD_DATAGRAMS at least, the
    // ceiling at most), so that client is tested under the flood however slow the machine is:
    // on a loaded one the flood is slower too, and a fixed count could end before the client
    // got its turn, or outlast any fixed handshake budget.
    let flooding = true;
    let legitEnded = false;
    let throughWhileFlooding = false;
    let datagrams = 0;
    try {
      const started = Date.now();
      for (let i = 0; i < FLOOD_CEILING && (i < FLOOD_DATAGRAMS || !legitEnded); i++) {
        const datagram = i % 2 === 0 ? connects[(i / 2) % connects.length]! : junk(i);
        bytesSent += datagram.length;
        datagrams++;
        sockets[i % SOURCE_PORTS]!.send(datagram, server.port, '127.0.0.1');
        // Paced near what one server core can take, and never past what the server reads.
        if (i % 40 === 39) {
          do await new Promise((resolve) => setTimeout(resolve, 1));
          while (receiveQueueOf(server.port) > RECEIVE_QUEUE_CEILING);
        }
        if (i === FLOOD_DATAGRAMS / 4) {
          // Mid-flood, a real client: it must complete its handshake and exchange data. UDP under
          // a flood loses datagrams in the kernel: it retries, as an application would, for as
          // long as the flood lasts.
          // Once the flood is over it gets the old bounded tries (a session's worth of handshake
          // attempts, 10 x PATIENCE pings), so that a client that got through only afterwards
          // fails the assertion that names the flood, not a timeout.
          legit = (async () => {
            let pingsAfter = 0;
            for (let connectsAfter = 0; ; connectsAfter += flooding ? 0 : 1) {
              let session;
              try {
                session = await connect({ host: '127.0.0.1', port: server.port, attempts: NEGOTIATION_REPEAT * PATIENCE });
              } catch (err) {
                if (!flooding && connectsAfter > 0) throw err;
                continue;
              }
              try {
                for (;;) {
                  try {
                    const rtt = await session.ping(1_000);
                    throughWhileFlooding ||= flooding;
                    return rtt;
                  } catch (err) {
                    if (session.closed || (!flooding && ++pingsAfter >= 10 * PATIENCE)) throw err;
                  }
                }
              } catch (err) {
                if (!flooding && connectsAfter > 0) throw err;
              } finally {
                session.close();
              }
            }
          })().finally(() => { legitEnded = true; });
        }
      }
      flooding = false;
      const floodSeconds = (Date.now() - started) / 1000;
      const rtt = await legit!;
      expect(rtt, 'the legitimate client exchanged a heartbeat').to.be.a('number').and.above(0);
      expect(throughWhileFlooding, `the legitimate client got through while the flood lasted (${datagrams} datagrams)`).to.equal(true);

      await new Promise((resolve) => setTimeout(resolve, 300));
      const rssAfter = rssOf(pid);
      server.proc.child.kill('SIGUSR1');
      const [statusLine] = await server.proc.waitForLine(/^\{.*"msg":"status".*\}$/, 15_000);
      const status = JSON.parse(statusLine) as Record<string, number>;
      const stat = (name: string): number => status[name] ?? 0;
      console.log(`      flood: ${datagrams} datagrams in ${floodSeconds.toFixed(1)} s; server received ${stat('packetsIn')}, `
        + `handshakes ${stat('handshakes')}, cookies ${stat('cookiesSent')}, rate-limited ${stat('drop_rate_limit')}; `
        + `RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssAfter / 2 ** 20).toFixed(0)} MiB; unvalidated bytes in ${stat('unvalidatedBytesIn')}, out ${stat('unvalidatedBytesOut')}`);
      expect(stat('cookiesSent'), 'under load the server asked for cookies').to.be.above(0);
      expect(stat('unvalidatedBytesOut'), 'never more bytes out than in before validation').to.be.at.most(stat('unvalidatedBytesIn'));
      expect(bytesBack, 'the flood sockets got back less than they sent').to.be.below(bytesSent);
      // The X25519 work is what the budget allows over the server's whole life (the budget's
      // burst of twice the rate included), whatever the flood offered: 50,000 valid-looking
      // connects and more.
      const serverSeconds = (Date.now() - serverStarted) / 1000;
      expect(stat('handshakes'), `the handshake budget held the X25519 work to ${HANDSHAKE_RATE}/s over ${serverSeconds.toFixed(1)} s`)
        .to.be.at.most(HANDSHAKE_RATE * (serverSeconds + 2));
      expect(stat('sessions')).to.be.at.most(10_000);
      expect(rssAfter - rssBefore, 'memory stays bounded').to.be.below(150 * 2 ** 20);
    } finally {
      flooding = false;
      await legit?.catch(() => undefined);
      await Promise.all(sockets.map(closeSocket));
    }
  });
});
