import { expect } from 'chai';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Children, testEnv } from '../helpers/cli.js';
import { eventually, PATIENCE } from '../helpers/udp.js';
import { tempDir } from '../helpers/tmp.js';

// Heartbeats every 100 ms; stale after 2 s, so late timers on a loaded machine do not end a session by accident.
const FAST = ['--heartbeat-rate', '100', '--stale-heartbeats', '20'];

describe('bin/bittrrt sessions', function () {
  this.timeout(30_000 * PATIENCE);
  const children = new Children();
  afterEach(() => children.cleanup());

  it('connect --ping N prints one line per RTT and a ping-style summary', async () => {
    const server = await children.serve();
    const client = children.run(['connect', server.address, '--ping', '3', '--interval', '50']);
    expect(await client.exited).to.equal(0);
    const replies = client.lines.filter((l) => /^heartbeat reply from=127\.0\.0\.1:\d+ seq=\d time_ms=\d+\.\d{3}$/.test(l));
    expect(replies, client.lines.join('\n')).to.have.length(3);
    expect(client.lines.at(-1)).to.match(/^ping summary sent=3 received=3 loss_pct=0\.0 min_ms=[\d.]+ avg_ms=[\d.]+ max_ms=[\d.]+ mdev_ms=[\d.]+$/);
  });

  for (const threads of ['0', '2']) {
    it(`serve --handshake-threads ${threads} answers clients (${threads === '0' ? 'on the socket thread' : 'in two threads'})`, async () => {
      const server = await children.serve(['--handshake-threads', threads]);
      const clients = [0, 1, 2].map(() => children.run(['connect', server.address, '--ping', '1']));
      for (const client of clients) expect(await client.exited, client.lines.join('\n')).to.equal(0);
    });
  }

  it('frees the session of a client killed with SIGKILL once it goes stale', async () => {
    const server = await children.serve(FAST);
    const client = children.run(['connect', server.address, '--persist', ...FAST]);
    await server.proc.waitForLine(/session established/, 15_000);
    client.child.kill('SIGKILL');
    // The stale limit is 2 s; the deadline only bounds a failing run.
    await server.proc.waitForLine(/session timed out peer=127\.0\.0\.1:\d+ reason=timeout/, 30_000);
  });

  it('--persist notices a server restart and reconnects', async () => {
    const first = await children.serve(FAST);
    const client = children.run(['connect', first.address, '--persist', ...FAST]);
    await client.waitForLine(/secure channel established/, 15_000);
    first.proc.child.kill('SIGKILL'); // no goodbye: the client must notice by itself
    await client.waitForLine(/session lost, reconnecting reason=timeout/, 15_000);
    const second = await children.serve(FAST, first.port);
    await second.proc.waitForLine(/session established/, 10_000);
    const reconnected = () => client.lines.filter((l) => l.startsWith('secure channel established')).length === 2;
    expect(await eventually(reconnected, 2_000), client.lines.join('\n')).to.equal(true);
    client.child.kill('SIGINT');
    expect(await client.exited).to.equal(0);
    await second.proc.waitForLine(/session closed .*reason=peer/, 15_000);
  });

  it('a server stopped with SIGINT closes every session and exits 0', async () => {
    const server = await children.serve(FAST);
    const clients = [0, 1, 2].map(() => children.run(['connect', server.address, '--persist', ...FAST]));
    await Promise.all(clients.map((c) => c.waitForLine(/secure channel established/, 15_000)));
    server.proc.child.kill('SIGINT');
    expect(await server.proc.exited).to.equal(0);
    expect(server.proc.lines.filter((l) => /session closed .*reason=shutdown/.test(l))).to.have.length(3);
    await Promise.all(clients.map((c) => c.waitForLine(/session lost, reconnecting reason=peer/, 15_000)));
  });

  it('--json makes every log line a JSON object', async () => {
    const server = await children.serve(['--json']);
    const client = children.run(['connect', server.address, '--json', '--ping', '1']);
    expect(await client.exited).to.equal(0);
    await server.proc.waitForLine(/session closed/, 15_000);
    server.proc.child.kill('SIGTERM');
    expect(await server.proc.exited).to.equal(0);
    for (const line of [...server.proc.lines, ...client.lines]) {
      const entry = JSON.parse(line) as { level: string; msg: string };
      expect(entry.level).to.be.a('string');
      expect(entry.msg).to.be.a('string');
    }
    const established = server.proc.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.msg === 'session established');
    expect(established).to.include({ version: 2 });
  });

  it('SIGUSR1 logs a status line with sessions and counters', async () => {
    const server = await children.serve();
    const client = children.run(['connect', server.address, '--persist']);
    await server.proc.waitForLine(/session established/, 15_000);
    server.proc.child.kill('SIGUSR1');
    const [line] = await server.proc.waitForLine(/^status .*/, 15_000);
    expect(line).to.match(/sessions=1 /).and.match(/handshakes=1 /).and.match(/packetsIn=\d+/);
    client.child.kill('SIGINT');
    expect(await client.exited).to.equal(0);
  });

  describe('config file', () => {
    const dir = tempDir('config');

    it('config init writes a commented default file with mode 0600 and refuses to overwrite', async () => {
      const path = join(dir, 'config');
      const init = children.run(['config', 'init', '--config', path]);
      expect(await init.exited).to.equal(0);
      const text = readFileSync(path, 'utf8');
      expect(text).to.match(/^# /m).and.match(/^heartbeat_rate=5000$/m).and.match(/^bind_port=6711$/m);
      expect(statSync(path).mode & 0o777).to.equal(0o600);
      const again = children.run(['config', 'init', '--config', path]);
      expect(await again.exited).to.equal(1);
      expect(again.lines[0]).to.match(/already exists/);
    });

    it('serve reads bind_addr and bind_port from BITTRRT_CONFIG, and flags win', async () => {
      const path = join(dir, 'serve.conf');
      writeFileSync(path, 'bind_addr=127.0.0.1\nbind_port=0\nheartbeat_rate=250\n');
      const fromFile = children.run(['serve'], testEnv({ BITTRRT_CONFIG: path }));
      const [, address] = await fromFile.waitForLine(/listening on (\S+)/, 15_000);
      expect(address).to.match(/^127\.0\.0\.1:\d+$/);
      const flagWins = children.run(['serve', '--bind', '::1'], testEnv({ BITTRRT_CONFIG: path }));
      const [, v6] = await flagWins.waitForLine(/listening on (\S+)/, 15_000);
      expect(v6).to.match(/^\[::1\]:\d+$/);
    });

    it('a bad value is one clear error naming the file, line and key', async () => {
      const path = join(dir, 'bad.conf');
      writeFileSync(path, '# comment\nbind_port=6711\nheartbeat_rate=fast\n');
      const proc = children.run(['serve', '--config', path]);
      expect(await proc.exited).to.equal(1);
      expect(proc.lines).to.deep.equal([`bittrrt: ${path}:3: bad value for heartbeat_rate: "fast" (expected milliseconds 10-3600000)`]);
    });

    it('an unknown key and a missing explicit file are clear errors', async () => {
      const path = join(dir, 'unknown.conf');
      writeFileSync(path, 'colour=blue\n');
      const unknown = children.run(['serve', '--config', path]);
      expect(await unknown.exited).to.equal(1);
      expect(unknown.lines[0]).to.include(`${path}:1: unknown key "colour"`);
      const missing = children.run(['serve', '--config', join(dir, 'nope')]);
      expect(await missing.exited).to.equal(1);
      expect(missing.lines[0]).to.match(/cannot read config .*nope: no such file or directory$/);
    });

    it('a bad flag value is rejected the same way', async () => {
      const proc = children.run(['connect', '--heartbeat-rate', '0']);
      expect(await proc.exited).to.equal(1);
      expect(proc.lines).to.deep.equal(['bittrrt: bad value for --heartbeat-rate: "0" (expected milliseconds 10-3600000)']);
    });
  });
});
