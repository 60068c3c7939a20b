import { expect } from 'chai';
import type { BittrrtProcess } from '../../lib/cli/child.js';
import { Children, LISTENING, testEnv } from '../helpers/cli.js';
import { closeSocket, eventually, openLoopbackSocket, PATIENCE } from '../helpers/udp.js';

const children = new Children();
const run = (args: string[], env?: NodeJS.ProcessEnv): BittrrtProcess => children.run(args, env);
const serve = (args: string[] = []): Promise<{ proc: BittrrtProcess; address: string }> => children.serve(args);

describe('bin/bittrrt', function () {
  this.timeout(30_000 * PATIENCE);

  afterEach(() => children.cleanup());

  it('serve + connect establish the channel on both sides', async () => {
    const server = await serve();
    const client = run(['connect', server.address]);
    expect(await client.exited).to.equal(0);
    expect(client.lines.join('\n')).to.match(/secure channel established peer=127\.0\.0\.1:\d+ version=2/);
    await server.proc.waitForLine(/session established peer=127\.0\.0\.1:\d+ version=2/, 15_000);
  });

  it('works with the pure-JS backend forced by BITTRRT_CRYPTO=js', async () => {
    const server = await serve();
    const client = run(['connect', server.address], testEnv({ BITTRRT_CRYPTO: 'js' }));
    expect(await client.exited).to.equal(0);
  });

  it('rejects an unknown BITTRRT_CRYPTO with one line and exit 1', async () => {
    const client = run(['connect', '127.0.0.1:1'], testEnv({ BITTRRT_CRYPTO: 'fast' }));
    expect(await client.exited).to.equal(1);
    expect(client.lines).to.have.length(1);
    expect(client.lines[0]).to.match(/^bittrrt: BITTRRT_CRYPTO must be/);
  });

  it('serves and connects over IPv6 loopback', async () => {
    const proc = run(['serve', '--bind', '::1', '--port', '0']);
    const [, address] = await proc.waitForLine(LISTENING, 10_000);
    expect(address).to.match(/^\[::1\]:\d+$/);
    const client = run(['connect', address as string]);
    expect(await client.exited).to.equal(0);
  });

  it('connect to a port where nothing answers gives up after its 50 attempts with exit 1, naming the address and the likely causes', async () => {
    const silent = await openLoopbackSocket();
    let received = 0;
    silent.on('message', () => received++);
    try {
      const port = silent.address().port;
      const client = run(['connect', `127.0.0.1:${port}`]);
      expect(await client.exited).to.equal(1);
      expect(client.lines.join('\n')).to.include(`no answer from 127.0.0.1:${port} after 50 attempts. Likely causes: a wrong address or port; a firewall`);
      expect(await eventually(() => received === 50, 1_000), `received ${received}`).to.equal(true);
    } finally {
      await closeSocket(silent);
    }
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`serve stops on ${signal} with exit 0`, async () => {
      const { proc } = await serve();
      proc.child.kill(signal);
      expect(await proc.exited).to.equal(0);
      expect(proc.lines.join('\n')).to.include(`stopped (${signal})`);
    });
  }

  const usageMistakes: Array<[string, string[]]> = [
    ['a port out of range', ['serve', '--port', '70000']],
    ['a non-numeric port', ['serve', '--port', 'http']],
    ['an unknown flag', ['serve', '--frobnicate']],
    ['a bind address that is not an IP', ['serve', '--bind', 'not an address']],
    ['a bad connect port', ['connect', '127.0.0.1:0']],
    ['a bad IPv6 literal', ['connect', '[nope]:6711']],
    ['an unknown command', ['teleport']],
  ];
  for (const [name, args] of usageMistakes) {
    it(`reports ${name} in one line with a non-zero exit, no stack trace`, async () => {
      const proc = run(args);
      const code = await proc.exited;
      expect(code).to.be.a('number').and.not.equal(0);
      expect(proc.lines, proc.lines.join('\n')).to.have.length(1);
      expect(proc.lines[0]).to.match(/^bittrrt: /);
      expect(proc.lines[0]).to.not.match(/\bat .*\.js:\d+/);
    });
  }

  it('reports a port already in use in one line', async () => {
    const first = await serve();
    const port = first.address.split(':')[1] as string;
    const second = run(['serve', '--bind', '127.0.0.1', '--port', port]);
    expect(await second.exited).to.equal(1);
    expect(second.lines[0]).to.match(/^bittrrt: cannot listen on 127\.0\.0\.1:\d+: address already in use \(another bittrrt serve, or another program, has that port: stop it, or choose another with --port\)/);
  });

  for (const command of ['serve', 'connect', 'demo']) {
    it(`${command} --help explains the command and exits 0`, async () => {
      const proc = run([command, '--help']);
      expect(await proc.exited).to.equal(0);
      expect(proc.lines.join('\n')).to.include(`bittrrt ${command}`);
    });
  }

  it('--version prints the package version', async () => {
    const proc = run(['--version']);
    expect(await proc.exited).to.equal(0);
    expect(proc.lines[0]).to.match(/^\d+\.\d+\.\d+$/);
  });

  it('waiting for a line a process never prints ends when its output ends, not at the ceiling', async () => {
    const proc = run(['--version']);
    // A ceiling no test run reaches: only the end of the output can end this wait.
    const waited = proc.waitForLine(/never printed/, 3_600_000).then(() => 'matched', (err: Error) => err.message);
    expect(await waited).to.match(/^no line matching \/never printed\/ before the output ended; output so far:\n\d+\.\d+\.\d+/);
    // And once it has ended, a new wait fails at once; a line printed earlier is still found.
    expect(await proc.waitForLine(/never printed/, 3_600_000).then(() => 'matched', (err: Error) => err.message))
      .to.match(/before the output ended/);
    expect((await proc.waitForLine(/^(\d+)\./, 3_600_000))[1]).to.match(/^\d+$/);
  });

  it('demo runs a server and a client and both succeed', async () => {
    const proc = run(['demo']);
    // The whole output on failure: which step failed is the first thing to know.
    expect(await proc.exited, proc.lines.join('\n')).to.equal(0);
    const out = proc.lines.join('\n');
    expect(out).to.match(/\[server\] session established/);
    expect(out).to.match(/\[client\] secure channel established/);
    expect(out).to.match(/\[client\] ping summary sent=5 received=5/);
    expect(out).to.match(/\[server\] session keys rotated/);
    expect(out).to.match(/\[server\] status sessions=0 /);
    expect(out).to.match(/\[client\] photos: 2 file\(s\) and 1 empty directory sent/);
    expect(out).to.match(/\[client\] +55 B +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +readme\.txt/);
    expect(out).to.include('[client] this file came to standard output, its SHA-256 checked');
    expect(out).to.match(/\[client\] error: cannot connect: refused \(nothing listening on 127\.0\.0\.1:\d+; its host answered attempt \d+ of 50\)/);
    expect(out).to.include('[demo] copy.bin is byte-identical to sample.bin');
    expect(out).to.include('[demo] server exited with 0');
  });
});
