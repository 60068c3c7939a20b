import { expect } from 'chai';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:dgram';
import { Children, testEnv, unusedPort } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { closeSocket, openLoopbackSocket, PATIENCE } from '../helpers/udp.js';

/**
 * The first datagram `socket` receives after `marker` was sent to it from another socket: UDP on
 * loopback queues in order, so the marker coming first proves nothing was sent to it before.
 */
async function firstDatagramAfterMarker(socket: Socket): Promise<string> {
  const first = new Promise<string>((resolve) => socket.once('message', (msg) => resolve(msg.toString())));
  const sender = await openLoopbackSocket();
  try {
    await new Promise<void>((resolve, reject) => sender.send('marker', socket.address().port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    return await first;
  } finally {
    await closeSocket(sender);
  }
}

describe('bin/bittrrt usage and failures', function () {
  this.timeout(30_000 * PATIENCE);
  const children = new Children();
  afterEach(() => children.cleanup());

  const mistakes: Array<[string, string[], RegExp]> = [
    ['an option typo', ['connect', 'host', '--pnig', '5'], /^bittrrt: unknown option --pnig for connect \(did you mean "--ping"\?\)/],
    ['a command typo', ['conect'], /^bittrrt: unknown command "conect" \(did you mean "connect"\?\)/],
    ['a shortened command', ['serv'], /^bittrrt: unknown command "serv" \(did you mean "serve"\?\)/],
    ['a command without its subcommand', ['config'], /^bittrrt: config needs a subcommand: config init$/],
    ['a subcommand typo', ['known-hosts', 'rmove', 'x'], /^bittrrt: unknown subcommand "known-hosts rmove" \(did you mean "remove"\?\)/],
    ['two targets', ['connect', 'a', 'b'], /^bittrrt: unexpected argument "b": bittrrt connect takes one host\[:port\]/],
    ['a glob after --send', ['connect', 'host', '--send', 'a.txt', 'b.txt'], /^bittrrt: unexpected argument "b.txt": --send takes one value, so several need several --send .*a shell pattern/],
    ['a negative --ping', ['connect', '--ping', '-1'], /^bittrrt: bad value for --ping: "-1" \(expected a whole number above 0\)/],
    ['an option without its value', ['connect', '--ping', '--persist'], /^bittrrt: --ping needs a value: --ping N \(--persist is an option\)/],
    ['-v at the top level', ['-v'], /^bittrrt: -v \(verbose\) goes after a command.*the version is -V or --version$/],
  ];
  for (const [name, args, message] of mistakes) {
    it(`names ${name} in one line, exit 1: bittrrt ${args.join(' ')}`, async () => {
      const proc = children.run(args);
      expect(await proc.exited).to.equal(1);
      expect(proc.lines, proc.lines.join('\n')).to.have.length(1);
      expect(proc.lines[0]).to.match(message);
    });
  }

  it('help and version work as words, and -V is the version', async () => {
    const help = children.run(['help']);
    expect(await help.exited).to.equal(0);
    expect(help.lines.join('\n')).to.include('bittrrt connect').and.include('bittrrt known-hosts remove');
    const helpConnect = children.run(['help', 'connect']);
    expect(await helpConnect.exited).to.equal(0);
    expect(helpConnect.lines.join('\n')).to.include('$ bittrrt connect [host[:port]]');
    for (const args of [['version'], ['-V'], ['--version']]) {
      const proc = children.run(args);
      expect(await proc.exited).to.equal(0);
      expect(proc.lines).to.deep.equal([JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version]);
    }
  });

  for (const command of ['connect', 'serve', 'keygen', 'known-hosts list']) {
    it(`${command} --help names every value (FILE, N, SECONDS...), never #0`, async () => {
      const proc = children.run([...command.split(' '), '--help']);
      expect(await proc.exited).to.equal(0);
      const text = proc.lines.join('\n');
      expect(text).to.not.include('#0').and.not.match(/ VALUE\b/);
      if (command === 'connect') {
        expect(text).to.match(/--send FILE +upload/).and.match(/--ping N +send/).and.match(/--bwup SECONDS +bandwidth/);
      }
    });
  }

  it('keygen --out refuses a directory that does not exist, creating nothing', async () => {
    const missing = join(tempDir('keygen'), 'no', 'such');
    const proc = children.run(['keygen', '--out', join(missing, 'k')]);
    expect(await proc.exited).to.equal(1);
    expect(proc.lines).to.have.length(1);
    expect(proc.lines[0]).to.include(`the directory ${missing} does not exist`);
    expect(existsSync(join(missing, '..'))).to.equal(false);
  });

  it('system errors read as sentences, not codes', async () => {
    const key = join(tempDir('errno'), 'nope.key');
    const serve = children.run(['serve', '--port', '0', '--key-file', key]);
    expect(await serve.exited).to.equal(1);
    expect(serve.lines).to.deep.equal([`bittrrt: cannot read network key ${key}: no such file or directory`]);
    // 192.0.2.1 (TEST-NET-1) is no address of this machine.
    const bind = children.run(['serve', '--port', '0', '--bind', '192.0.2.1']);
    expect(await bind.exited).to.equal(1);
    expect(bind.lines[0]).to.match(/^bittrrt: cannot listen on 192\.0\.2\.1:0: that address is not one of this machine's addresses/);
    expect(bind.lines.join('\n')).to.not.match(/\bE[A-Z]{4,}\b/);
  });

  it('a port nobody serves is refused at once: the first answer ends it, not the 50 attempts', async () => {
    const port = await unusedPort();
    const client = children.run(['connect', `127.0.0.1:${port}`]);
    expect(await client.exited).to.equal(1);
    const [, attempt] = /refused \(nothing listening on 127\.0\.0\.1:\d+; its host answered attempt (\d+) of 50\)/.exec(client.lines.join('\n')) ?? [];
    expect(attempt, client.lines.join('\n')).to.be.a('string');
    expect(Number(attempt)).to.be.below(50);
    expect(client.lines.join('\n')).to.include(`127.0.0.1:${port}`).and.not.include('ECONNREFUSED');
  });

  it('--send of a missing file is named and refused before any datagram is sent', async () => {
    const silent = await openLoopbackSocket();
    try {
      const missing = join(tempDir('send'), 'missing.bin');
      const client = children.run(['connect', `127.0.0.1:${silent.address().port}`, '--send', missing]);
      expect(await client.exited).to.equal(1);
      expect(client.lines).to.deep.equal([`bittrrt: cannot send ${missing}: no such file or directory (see --help)`]);
      expect(await firstDatagramAfterMarker(silent)).to.equal('marker');
    } finally {
      await closeSocket(silent);
    }
  });

  it('--out in a directory that does not exist is refused before any datagram is sent', async () => {
    const silent = await openLoopbackSocket();
    try {
      const out = join(tempDir('out'), 'none', 'a.iso');
      const client = children.run(['connect', `127.0.0.1:${silent.address().port}`, '--get', 'a.iso', '--out', out]);
      expect(await client.exited).to.equal(1);
      expect(client.lines[0]).to.include(`--out ${out}: the directory`).and.include('does not exist');
      expect(await firstDatagramAfterMarker(silent)).to.equal('marker');
    } finally {
      await closeSocket(silent);
    }
  });

  it('serve says whom it admits, and warns loudly when --dir is open to anyone', async () => {
    const inbox = tempDir('open');
    const open = await children.serve(['--dir', inbox]);
    await open.proc.waitForLine(/^warn: anyone who can reach 127\.0\.0\.1:\d+ may upload into /, 10_000);
    expect(open.proc.lines.join('\n')).to.match(/listening on \S+ admits=anyone files=/);
    const keyFile = join(tempDir('closed'), 'network.key');
    expect(await children.run(['keygen', '--out', keyFile]).exited).to.equal(0);
    const closed = await children.serve(['--dir', inbox, '--key-file', keyFile]);
    expect(closed.proc.lines.join('\n')).to.match(/admits=holders of the network key/).and.not.include('anyone who can reach');
  });

  it('serve logs a client refused for its network key once, not once per retry', async () => {
    const keyFile = join(tempDir('netkey'), 'network.key');
    expect(await children.run(['keygen', '--out', keyFile]).exited).to.equal(0);
    const server = await children.serve(['--key-file', keyFile]);
    const client = children.run(['connect', server.address]);
    expect(await client.exited).to.equal(1);
    expect(client.lines.join('\n')).to.match(/no answer from 127\.0\.0\.1:\d+ after 50 attempts\. Likely causes: .*firewall.*network key.*listed clients/);
    const refusal = /^warn: refused a client: its handshake does not decrypt under this server's network key .* from=127\.0\.0\.1:\d+ reason=bad-token$/;
    await server.proc.waitForLine(refusal, 10_000);
    // Fewer lines than attempts: the exact interval is RefusalLog's unit test, on a clock of its own.
    expect(server.proc.lines.filter((l) => refusal.test(l)).length, 'not one line per attempt').to.be.within(1, 49);
  });

  it('serve logs a refused upload, not once per refusal from the same host', async () => {
    const inbox = tempDir('inbox');
    writeFileSync(join(inbox, 'a.txt'), 'there first');
    const local = join(tempDir('local'), 'a.txt');
    writeFileSync(local, 'hello');
    const server = await children.serve(['--dir', inbox]);
    for (let i = 0; i < 3; i++) {
      const client = children.run(['connect', server.address, '--send', local]);
      expect(await client.exited).to.equal(1);
    }
    const refusal = /^warn: refused an upload of a\.txt: .*exists.* peer=127\.0\.0\.1:\d+$/;
    await server.proc.waitForLine(refusal, 10_000);
    expect(server.proc.lines.filter((l) => refusal.test(l)).length, server.proc.lines.join('\n')).to.be.within(1, 2);
  });

  it('ping reports mdev, and exits 1 when no heartbeat came back', async () => {
    const server = await children.serve();
    const ok = children.run(['connect', server.address, '--ping', '2', '--interval', '50']);
    expect(await ok.exited).to.equal(0);
    expect(ok.lines.at(-1)).to.match(/^ping summary sent=2 received=2 loss_pct=0\.0 min_ms=[\d.]+ avg_ms=[\d.]+ max_ms=[\d.]+ mdev_ms=[\d.]+$/);

    // A relay that passes the handshake (its answers are Fernet tokens, first byte 'g') and nothing after it.
    const front = await openLoopbackSocket();
    const upstream = await openLoopbackSocket();
    let client: { address: string; port: number } | undefined;
    front.on('message', (msg, rinfo) => {
      client = rinfo;
      upstream.send(msg, server.port, '127.0.0.1');
    });
    upstream.on('message', (msg) => {
      if (client && msg[0] === 0x67) front.send(msg, client.port, client.address);
    });
    try {
      const lost = children.run(['connect', `127.0.0.1:${front.address().port}`, '--ping', '1']);
      expect(await lost.exited, lost.lines.join('\n')).to.equal(1);
      expect(lost.lines.join('\n')).to.include('secure channel established').and.match(/ping summary sent=1 received=0 loss_pct=100\.0/);
    } finally {
      await closeSocket(front);
      await closeSocket(upstream);
    }
  });

  it('a changed server identity shows the new fingerprint and the command that forgets the old one; known-hosts list and remove', async () => {
    const home = tempDir('known');
    const env = testEnv({ HOME: home });
    const server = children.run(['serve', '--bind', '127.0.0.1', '--port', '0'], env);
    const [, address] = await server.waitForLine(/listening on ([^\s"]+)/, 10_000);
    expect(await children.run(['connect', address as string], env).exited).to.equal(0);
    const [, oldPrint] = await server.waitForLine(/^server identity \S+ fingerprint=(\S+)/, 1);
    const list = children.run(['known-hosts', 'list'], env);
    expect(await list.exited).to.equal(0);
    expect(list.lines).to.deep.equal([`${address} ${oldPrint} line=1`]);

    server.child.kill('SIGINT');
    await server.exited;
    const port = (address as string).split(':')[1] as string;
    const impostor = children.run(['serve', '--bind', '127.0.0.1', '--port', port, '--identity', join(home, 'other.key')], env);
    const [, newPrint] = await impostor.waitForLine(/^server identity \S+ fingerprint=(\S+)/, 10_000);
    await impostor.waitForLine(/listening on/, 10_000);
    const refused = children.run(['connect', address as string], env);
    expect(await refused.exited).to.equal(1);
    expect(refused.lines.join('\n')).to.include(`The server now presents ${newPrint}.`)
      .and.include(`run: bittrrt known-hosts remove ${address}`);

    const remove = children.run(['known-hosts', 'remove', address as string], env);
    expect(await remove.exited).to.equal(0);
    expect(remove.lines).to.deep.equal([`removed ${address} from ${home}/.bittrrt/known_hosts`]);
    const again = children.run(['known-hosts', 'remove', address as string], env);
    expect(await again.exited).to.equal(1);
    const reconnect = children.run(['connect', address as string], env);
    expect(await reconnect.exited).to.equal(0);
    expect(reconnect.lines.join('\n')).to.include(`new server ${address}: identity recorded fingerprint=${newPrint}`);
  });

  it('connect uses ~/.bittrrt/client.key by default (saying so with -v); --no-identity leaves it out', async () => {
    const home = tempDir('identity');
    mkdirSync(join(home, '.bittrrt'), { mode: 0o700 });
    const env = testEnv({ HOME: home });
    const keygen = children.run(['keygen', '--client'], env);
    expect(await keygen.exited).to.equal(0);
    expect(keygen.lines[0]).to.equal(`wrote client identity ${home}/.bittrrt/client.key`);
    const publicLine = keygen.lines.find((l) => /^\S{44} SHA256:/.test(l)) as string;
    const authorized = join(home, 'authorized_keys');
    writeFileSync(authorized, `${publicLine}\n`);
    const server = children.run(['serve', '--bind', '127.0.0.1', '--port', '0', '--authorized-keys', authorized], env);
    const [, address] = await server.waitForLine(/listening on ([^\s"]+)/, 10_000);
    expect(server.lines.join('\n')).to.match(/admits=1 listed client /);
    const client = children.run(['connect', address as string, '-v'], env);
    expect(await client.exited, client.lines.join('\n')).to.equal(0);
    expect(client.lines.join('\n')).to.include(`client identity ${publicLine.split(' ')[1]} file=${home}/.bittrrt/client.key default=true`);
    const anonymous = children.run(['connect', address as string, '--no-identity'], env);
    expect(await anonymous.exited).to.equal(1);
    await server.waitForLine(/^warn: refused a client: its client key is not in the authorized keys/, 10_000);
  });
});
