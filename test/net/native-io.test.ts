import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { once } from 'node:events';
import { createSocket } from 'node:dgram';
import { loadNobleBackend } from '../../lib/crypto/noble-backend.js';
import { loadNativeIo, selectIo, type NativeIo, type NativeSocketHandle } from '../../lib/net/io/native-binding.js';
import { NativeSocket } from '../../lib/net/io/native-socket.js';
import type { PeerAddress } from '../../lib/net/session.js';

const LOOPBACK = Buffer.from([127, 0, 0, 1]);

function tryLoad(): NativeIo | Error {
  try {
    return loadNativeIo();
  } catch (err) {
    return err as Error;
  }
}

const loaded = tryLoad();

describe('choosing the datagram path', () => {
  const broken = (): NativeIo => {
    throw new Error('No native build was found');
  };
  it('without a build: node:dgram, quietly (the install said why); BITTRRT_IO=native refuses to run; dgram never loads it', () => {
    const warnings: string[] = [];
    expect(selectIo('auto', (m) => warnings.push(m), broken, () => false)).to.equal(null);
    expect(warnings).to.deep.equal([]);
    expect(() => selectIo('native', (m) => warnings.push(m), broken, () => false)).to.throw(/^BITTRRT_IO=native but the native datagram addon could not be loaded: No native build/);
    let loads = 0;
    expect(selectIo('dgram', (m) => warnings.push(m), () => (loads++, broken()), () => true)).to.equal(null);
    expect(loads).to.equal(0);
  });

  it('a build that does not load (a Node upgrade since): node:dgram with one warning that says how to rebuild', () => {
    const warnings: string[] = [];
    expect(selectIo('auto', (m) => warnings.push(m), broken, () => true)).to.equal(null);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/built but does not load, using node:dgram \(rebuild it with npm rebuild bittrrt, or npm install\): No native build/);
  });
});

if (!(loaded instanceof Error)) {
  const io = loaded;
  const { RECV_BATCH, RECV_SLOT, META_FIELDS } = io.constants;

  /** A bound socket receiving into buffers of its own; `batches` holds every datagram, copied. */
  function receiver(): { handle: NativeSocketHandle; port: number; datagrams: Buffer[]; errors: number[]; arrived(n: number): Promise<void> } {
    const handle = io.open(4, LOOPBACK, 0, 1 << 22, 1 << 22);
    if (typeof handle === 'number') throw new Error(`open failed: ${handle}`);
    const buffer = Buffer.alloc(RECV_BATCH * RECV_SLOT);
    const meta = new Int32Array(1024 * META_FIELDS);
    const datagrams: Buffer[] = [];
    const errors: number[] = [];
    let waiting: { n: number; resolve(): void } | null = null;
    io.start(handle, buffer, meta, (count) => {
      if (count < 0) errors.push(count);
      for (let i = 0; i < count; i++) {
        const at = i * META_FIELDS;
        datagrams.push(Buffer.from(buffer.subarray(meta[at]!, meta[at]! + meta[at + 1]!)));
      }
      if (waiting && (datagrams.length >= waiting.n || errors.length > 0)) waiting.resolve();
    });
    const address = io.address(handle);
    if (typeof address === 'number') throw new Error('address failed');
    return {
      handle, port: address[0], datagrams, errors,
      arrived: (n) => new Promise<void>((resolve) => {
        if (datagrams.length >= n || errors.length > 0) return resolve();
        waiting = { n, resolve };
      }),
    };
  }

  function sender(): NativeSocketHandle {
    const handle = io.open(4, LOOPBACK, 0, 0, 1 << 22);
    if (typeof handle === 'number') throw new Error(`open failed: ${handle}`);
    return handle;
  }

  describe('native datagram addon: sockets', () => {
    const open: NativeSocketHandle[] = [];
    afterEach(() => {
      for (const handle of open.splice(0)) io.close(handle);
    });

    it('batches of equal-sized datagrams (GSO) and mixed sizes arrive whole, in order, split back from GRO trains', async () => {
      const rx = receiver();
      const tx = sender();
      open.push(rx.handle, tx);
      const datagrams: Buffer[] = [];
      // Runs of 1444 bytes with a shorter one closing some runs, odd sizes, a 1-byte and a 60 KB datagram.
      for (let i = 0; i < 300; i++) datagrams.push(randomBytes(i % 50 === 49 ? 700 : 1444));
      datagrams.push(randomBytes(1), randomBytes(60_000), randomBytes(33), randomBytes(1444));
      let sent = 0;
      for (let at = 0; at < datagrams.length; at += 100) {
        const batch = datagrams.slice(at, at + 100);
        sent += io.send(tx, batch, batch.length, LOOPBACK, rx.port);
        await rx.arrived(sent); // never more in flight than the receive buffer holds
      }
      expect(sent).to.equal(datagrams.length);
      await rx.arrived(datagrams.length);
      expect(rx.datagrams.map((d) => d.length)).to.deep.equal(datagrams.map((d) => d.length));
      for (let i = 0; i < datagrams.length; i++) expect(rx.datagrams[i]!.equals(datagrams[i]!), `datagram ${i}`).to.equal(true);
      const [gso, gro] = io.stats(tx);
      expect(gso).to.equal(1);
      expect(io.stats(rx.handle)[1]).to.equal(gro === 1 ? 1 : 0);
    });

    it('a connected socket hears ECONNREFUSED from a port nobody serves', async () => {
      const probe = createSocket('udp4');
      probe.bind(0, '127.0.0.1');
      await once(probe, 'listening');
      const vacant = probe.address().port;
      probe.close();
      const rx = receiver();
      open.push(rx.handle);
      expect(io.connect(rx.handle, LOOPBACK, vacant)).to.equal(0);
      const sent = io.send(rx.handle, [Buffer.from('anyone?')], 1, null, 0);
      expect(sent).to.equal(1);
      await rx.arrived(1);
      expect(rx.errors).to.deep.equal([-osConstants.errno.ECONNREFUSED]);
    });

    it('every argument from JS is checked: bad families, addresses, ports, counts and lengths throw, nothing is sent', () => {
      const tx = sender();
      open.push(tx);
      const ok = [Buffer.alloc(10)];
      expect(() => io.open(5 as 4, LOOPBACK, 0, 0, 0)).to.throw(RangeError);
      expect(() => io.open(4, Buffer.alloc(16), 0, 0, 0)).to.throw(RangeError);
      expect(() => io.open(4, LOOPBACK, 70_000, 0, 0)).to.throw(RangeError);
      expect(() => io.open(4, LOOPBACK, 0, -1, 0)).to.throw(RangeError);
      expect(() => io.send(tx, ok, 2, LOOPBACK, 9)).to.throw(RangeError); // count past the array
      expect(() => io.send(tx, ok, -1, LOOPBACK, 9)).to.throw(RangeError);
      expect(() => io.send(tx, ok, 1, LOOPBACK, 65_536)).to.throw(RangeError);
      expect(() => io.send(tx, ok, 1, Buffer.alloc(3), 9)).to.throw(RangeError);
      expect(() => io.send(tx, [Buffer.alloc(0)], 1, LOOPBACK, 9)).to.throw(RangeError);
      expect(() => io.send(tx, [Buffer.alloc(65_508)], 1, LOOPBACK, 9)).to.throw(RangeError);
      expect(() => io.send(tx, ['text' as unknown as Uint8Array], 1, LOOPBACK, 9)).to.throw(TypeError);
      expect(() => io.send(tx, ok, 1, null, 9)).to.throw(RangeError); // not connected
      expect(() => io.send({} as NativeSocketHandle, ok, 1, LOOPBACK, 9)).to.throw(TypeError);
      expect(() => io.start(tx, Buffer.alloc(10), new Int32Array(1024 * META_FIELDS), () => undefined)).to.throw(RangeError);
      expect(() => io.start(tx, Buffer.alloc(RECV_BATCH * RECV_SLOT), new Int32Array(4), () => undefined)).to.throw(RangeError);
      expect(() => io.addressName(new Int32Array(META_FIELDS), 1)).to.throw(RangeError);
      expect(io.addressBytes(4, 'not an address')).to.equal(null);
      expect(io.addressBytes(4, 'x'.repeat(10_000))).to.equal(null);
    });

    it('a closed socket refuses every call, and closing twice is harmless', () => {
      const tx = sender();
      io.close(tx);
      io.close(tx);
      expect(() => io.send(tx, [Buffer.alloc(1)], 1, LOOPBACK, 9)).to.throw(/closed/);
      expect(() => io.address(tx)).to.throw(/closed/);
    });

    it('formats and parses addresses as the C library does (IPv4, IPv6, IPv4-mapped)', () => {
      const meta = new Int32Array(META_FIELDS);
      const bytes = io.addressBytes(6, '::ffff:10.1.2.3')!;
      meta[3] = 6;
      Buffer.from(meta.buffer).set(bytes, 16);
      expect(io.addressName(meta, 0)).to.equal('::ffff:10.1.2.3');
      expect(Buffer.from(io.addressBytes(6, '10.1.2.3')!).equals(Buffer.from(bytes))).to.equal(true);
      expect(Array.from(io.addressBytes(4, '192.0.2.1')!)).to.deep.equal([192, 0, 2, 1]);
      expect(io.addressBytes(6, '2001:db8::1')).to.have.length(16);
    });
  });

  describe('native datagram addon: batch ChaCha20-Poly1305', () => {
    const js = loadNobleBackend();

    function datagram(plaintext: Buffer, nonce: Buffer): Buffer {
      return Buffer.concat([nonce, plaintext, Buffer.alloc(16)]);
    }

    it('seals in place exactly as the pure-JS backend does, and opens what it sealed', () => {
      const key = randomBytes(32);
      const plaintexts = [0, 1, 20, 1416, 8000].map((n) => randomBytes(n));
      const nonces = plaintexts.map(() => randomBytes(12));
      const datagrams = plaintexts.map((p, i) => datagram(p, nonces[i]!));
      io.seal(key, datagrams, datagrams.length);
      plaintexts.forEach((p, i) => {
        const expected = Buffer.alloc(p.length + 16);
        js.aeadSeal(expected, p, new Uint8Array(0), nonces[i]!, key);
        expect(datagrams[i]!.subarray(12).equals(expected), `datagram ${i}`).to.equal(true);
        const out = Buffer.alloc(p.length);
        expect(io.openDatagram(key, datagrams[i]!, out)).to.equal(p.length);
        expect(out.equals(p)).to.equal(true);
      });
    });

    it('refuses a tampered datagram, a wrong key and a short datagram, and leaves no plaintext behind', () => {
      const key = randomBytes(32);
      const sealed = datagram(Buffer.from('attack at dawn, bring snacks'), randomBytes(12));
      io.seal(key, [sealed], 1);
      const out = Buffer.alloc(sealed.length);
      for (const at of [0, 11, 12, sealed.length - 17, sealed.length - 1]) {
        const tampered = Buffer.from(sealed);
        tampered[at]! ^= 1;
        out.fill(0xaa);
        expect(io.openDatagram(key, tampered, out), `byte ${at}`).to.equal(-1);
        expect(out.subarray(0, sealed.length - 28).every((b) => b === 0), `byte ${at} left plaintext`).to.equal(true);
      }
      expect(io.openDatagram(randomBytes(32), sealed, out)).to.equal(-1);
      expect(io.openDatagram(key, sealed.subarray(0, 27), out)).to.equal(-1);
    });

    it('checks every length: the key, each datagram, the output, the count', () => {
      const key = randomBytes(32);
      expect(() => io.seal(key.subarray(0, 31), [Buffer.alloc(40)], 1)).to.throw(RangeError);
      expect(() => io.seal(key, [Buffer.alloc(27)], 1)).to.throw(RangeError);
      expect(() => io.seal(key, [Buffer.alloc(40)], 2)).to.throw(RangeError);
      expect(() => io.openDatagram(key, Buffer.alloc(100), Buffer.alloc(71))).to.throw(RangeError);
      expect(() => io.openDatagram(key.subarray(1), Buffer.alloc(100), Buffer.alloc(72))).to.throw(RangeError);
    });
  });

  describe('NativeSocket (the sessions\' view of the addon)', () => {
    it('queues a turn\'s sends and hands them over in one call per destination, then closes cleanly', async () => {
      const a = new NativeSocket(io, 4, 1 << 22);
      const b = new NativeSocket(io, 4, 1 << 22);
      try {
        await a.bind(0, '127.0.0.1');
        const { port } = await b.bind(0, '127.0.0.1', 1 << 22);
        const got: { data: Buffer; from: PeerAddress }[] = [];
        const all = new Promise<void>((resolve) => {
          b.onMessage = (data, from) => {
            got.push({ data: Buffer.from(data), from });
            if (got.length === 64) resolve();
          };
        });
        for (let i = 0; i < 64; i++) a.send(Buffer.alloc(1000, i), { address: '127.0.0.1', port });
        await all;
        expect(got.map((g) => g.data[0])).to.deep.equal(Array.from({ length: 64 }, (_, i) => i));
        expect(got[0]!.from).to.deep.equal({ address: '127.0.0.1', port: a.address().port });
        const stats = a.stats();
        expect(stats.datagramsSent).to.equal(64);
        expect(stats.sendCalls).to.equal(1);
        expect(b.stats().datagramsReceived).to.equal(64);
      } finally {
        await a.close();
        await b.close();
      }
      expect(() => a.address()).to.throw(/not bound/);
    });

    it('an empty datagram reaches onMessage as an empty buffer, as node:dgram delivers it', async () => {
      const b = new NativeSocket(io, 4, 0);
      const sender = createSocket('udp4');
      try {
        const { port } = await b.bind(0, '127.0.0.1');
        const got: number[] = [];
        const arrived = new Promise<void>((resolve) => {
          b.onMessage = (data) => {
            got.push(data.length);
            if (got.length === 3) resolve();
          };
        });
        for (const size of [0, 5, 0]) sender.send(Buffer.alloc(size), port, '127.0.0.1');
        await arrived;
        expect(got).to.deep.equal([0, 5, 0]);
      } finally {
        sender.close();
        await b.close();
      }
    });

    it('reports a port in use as Node does (EADDRINUSE)', async () => {
      const a = new NativeSocket(io, 4, 0);
      const b = new NativeSocket(io, 4, 0);
      try {
        const { port } = await a.bind(0, '127.0.0.1');
        const err = await b.bind(port, '127.0.0.1').then(() => null, (e: NodeJS.ErrnoException) => e);
        expect(err?.code).to.equal('EADDRINUSE');
        expect(err?.message).to.match(/^bind EADDRINUSE 127\.0\.0\.1:\d+$/);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
}
