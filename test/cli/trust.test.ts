import { expect } from 'chai';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Children, testEnv } from '../helpers/cli.js';
import { DowngradeProxy } from '../helpers/mitm.js';
import { tempDir } from '../helpers/tmp.js';
import { PATIENCE } from '../helpers/udp.js';

describe('bin/bittrrt trust', function () {
  this.timeout(30_000 * PATIENCE);
  const children = new Children();
  afterEach(() => children.cleanup());
  const dir = (): string => tempDir('trust');

  it('keygen writes a 0600 network key, never overwrites, and serve + connect share it', async () => {
    const path = join(dir(), 'network.key');
    const keygen = children.run(['keygen', '--out', path]);
    expect(await keygen.exited).to.equal(0);
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    const again = children.run(['keygen', '--out', path]);
    expect(await again.exited).to.equal(1);
    expect(again.lines[0]).to.match(/already exists; not overwriting it/);

    const server = await children.serve(['--key-file', path]);
    expect(server.proc.lines.join('\n')).to.match(/admits=holders of the network key/);
    const withKey = children.run(['connect', server.address, '--key-file', path]);
    expect(await withKey.exited).to.equal(0);
    const viaEnv = children.run(['connect', server.address], testEnv({ BITTRRT_KEY_FILE: path }));
    expect(await viaEnv.exited).to.equal(0);
  });

  it('refuses a key file that others can read, with the chmod to fix it', async () => {
    const path = join(dir(), 'network.key');
    expect(await children.run(['keygen', '--out', path]).exited).to.equal(0);
    chmodSync(path, 0o644);
    const server = children.run(['serve', '--port', '0', '--key-file', path]);
    expect(await server.exited).to.equal(1);
    expect(server.lines).to.deep.equal([`bittrrt: network key ${path} is readable by others (mode 644); run: chmod 600 ${path}`]);
  });

  it('refuses a key file owned by another user or reached through a symlink, and a known_hosts others can write, each with the fix', async () => {
    const d = dir();
    const path = join(d, 'network.key');
    expect(await children.run(['keygen', '--out', path]).exited).to.equal(0);
    const link = join(d, 'link.key');
    symlinkSync(path, link);
    const viaLink = children.run(['serve', '--port', '0', '--key-file', link]);
    expect(await viaLink.exited).to.equal(1);
    expect(viaLink.lines).to.deep.equal([`bittrrt: network key ${link} is a symbolic link, which is refused; give the path of the key file itself`]);

    const me = process.getuid!();
    const other = me === 4242 ? 4243 : 4242;
    chownSync(path, other, other);
    const foreign = children.run(['serve', '--port', '0', '--key-file', path]);
    expect(await foreign.exited).to.equal(1);
    expect(foreign.lines).to.deep.equal([`bittrrt: network key ${path} belongs to uid ${other}, not to you (uid ${me}); use a key file of your own, or run: chown ${me} ${path}`]);

    const knownHosts = join(d, 'known_hosts');
    writeFileSync(knownHosts, '', { mode: 0o600 });
    chmodSync(knownHosts, 0o666);
    const server = await children.serve();
    const client = children.run(['connect', server.address, '--known-hosts', knownHosts]);
    expect(await client.exited).to.equal(1);
    expect(client.lines).to.deep.equal([`bittrrt: known hosts ${knownHosts} is writable by others (mode 666); run: chmod go-w ${knownHosts}`]);
    expect(readFileSync(knownHosts, 'utf8')).to.equal('');
  });

  it('serve creates its identity on first run and prints the same fingerprint afterwards', async () => {
    const identity = join(dir(), 'server.key');
    const first = await children.serve(['--identity', identity]);
    const [, key, print] = await first.proc.waitForLine(/^server identity (\S+) fingerprint=(SHA256:\S+) file=.* created=true$/, 15_000);
    expect(statSync(identity).mode & 0o777).to.equal(0o600);
    first.proc.child.kill('SIGINT');
    await first.proc.exited;
    const second = await children.serve(['--identity', identity]);
    const [, key2, print2] = await second.proc.waitForLine(/^server identity (\S+) fingerprint=(SHA256:\S+)/, 15_000);
    expect([key2, print2]).to.deep.equal([key, print]);
  });

  it('trust on first use: records and says so, then is silent, and refuses a changed key loudly', async () => {
    const home = dir();
    const env = testEnv({ HOME: home });
    const server = children.run(['serve', '--bind', '127.0.0.1', '--port', '0'], env);
    const [, address] = await server.waitForLine(/listening on ([^\s"]+)/, 10_000);
    const first = children.run(['connect', address as string], env);
    expect(await first.exited).to.equal(0);
    expect(first.lines.join('\n')).to.match(new RegExp(`new server ${address}: identity recorded fingerprint=SHA256:\\S+ file=${home}/.bittrrt/known_hosts`));
    const second = children.run(['connect', address as string], env);
    expect(await second.exited).to.equal(0);
    expect(second.lines.join('\n')).to.not.include('new server');

    // A different server identity behind the same address.
    server.child.kill('SIGINT');
    await server.exited;
    const port = (address as string).split(':')[1] as string;
    const impostor = children.run(['serve', '--bind', '127.0.0.1', '--port', port, '--identity', join(home, 'other.key')], env);
    await impostor.waitForLine(/listening on/, 10_000);
    const refused = children.run(['connect', address as string], env);
    expect(await refused.exited).to.equal(1);
    expect(refused.lines.join('\n')).to.include(`the identity of ${address} has CHANGED`)
      .and.include(`delete line 1 of ${home}/.bittrrt/known_hosts`);
    expect(readFileSync(join(home, '.bittrrt', 'known_hosts'), 'utf8').trim().split('\n')).to.have.length(1);
    const throwaway = children.run(['connect', address as string, '--no-pin'], env);
    expect(await throwaway.exited).to.equal(0);
  });

  it('known_hosts: LOCALHOST is the localhost recorded first, and an entry added after a hand edit without a final newline stays whole', async () => {
    const home = dir();
    const env = testEnv({ HOME: home });
    const knownHosts = join(home, '.bittrrt', 'known_hosts');
    mkdirSync(join(home, '.bittrrt'), { mode: 0o700 });
    writeFileSync(knownHosts, '# edited by hand', { mode: 0o600 });
    const server = children.run(['serve', '--bind', '127.0.0.1', '--port', '0'], env);
    const [, address] = await server.waitForLine(/listening on ([^\s"]+)/, 10_000);
    const port = (address as string).split(':')[1] as string;
    const first = children.run(['connect', `localhost:${port}`], env);
    expect(await first.exited, first.lines.join('\n')).to.equal(0);
    expect(first.lines.join('\n')).to.include(`new server localhost:${port}: identity recorded`);
    const again = children.run(['connect', `LOCALHOST:${port}`], env);
    expect(await again.exited, again.lines.join('\n')).to.equal(0);
    expect(again.lines.join('\n'), 'not a fresh first contact').to.not.include('new server');
    const lines = readFileSync(knownHosts, 'utf8').split('\n');
    expect(lines).to.have.length(3);
    expect(lines[0]).to.equal('# edited by hand');
    expect(lines[1]).to.match(new RegExp(`^localhost:${port} \\S{44}$`));

    server.child.kill('SIGINT');
    await server.exited;
    const impostor = children.run(['serve', '--bind', '127.0.0.1', '--port', port, '--identity', join(home, 'other.key')], env);
    await impostor.waitForLine(/listening on/, 10_000);
    const refused = children.run(['connect', `LOCALHOST:${port}`], env);
    expect(await refused.exited).to.equal(1);
    expect(refused.lines.join('\n')).to.include(`the identity of LOCALHOST:${port} has CHANGED`).and.include(`delete line 2 of ${knownHosts}`);
  });

  it('a first contact downgraded by an on-path attacker is refused with the way to opt in; --allow-unauthenticated or the config key accepts it', async () => {
    const home = dir();
    const env = testEnv({ HOME: home });
    const knownHosts = join(home, '.bittrrt', 'known_hosts');
    const server = await children.serve();
    const proxy = await DowngradeProxy.start(server.port);
    try {
      const target = `127.0.0.1:${proxy.port}`;
      const refused = children.run(['connect', target], env);
      expect(await refused.exited).to.equal(1);
      expect(refused.lines.join('\n')).to.include(`cannot connect: ${target} answered only with the original, unauthenticated protocol (version 1)`)
        .and.include('connect again with --allow-unauthenticated (or allow_unauthenticated=true in the config)');
      expect(proxy.rewritten, 'the attacker did strip version 2').to.be.above(0);
      expect(proxy.stolen).to.deep.equal([]);
      expect(existsSync(knownHosts)).to.equal(false);

      const optedIn = children.run(['connect', target, '--allow-unauthenticated'], env);
      expect(await optedIn.exited, optedIn.lines.join('\n')).to.equal(0);
      expect(optedIn.lines.join('\n')).to.include('version=1').and.include('this session is NOT authenticated');
      const config = join(home, 'config');
      writeFileSync(config, 'allow_unauthenticated=true\n');
      const byConfig = children.run(['connect', target, '--config', config], env);
      expect(await byConfig.exited, byConfig.lines.join('\n')).to.equal(0);
      expect(existsSync(knownHosts), 'a version-1 answer records nothing').to.equal(false);
    } finally {
      await proxy.close();
    }
  });

  it('--server-key pins: the right key connects, another is refused with the reason', async () => {
    const identity = join(dir(), 'server.key');
    const server = await children.serve(['--identity', identity]);
    const [, key] = await server.proc.waitForLine(/^server identity (\S+)/, 15_000);
    const pinned = children.run(['connect', server.address, '--server-key', key as string]);
    expect(await pinned.exited, pinned.lines.join('\n')).to.equal(0);
    const wrong = children.run(['connect', server.address, '--server-key', 'A'.repeat(43) + '=']);
    expect(await wrong.exited).to.equal(1);
    expect(wrong.lines.join('\n')).to.include('the server identity does not match the pinned key');
    const malformed = children.run(['connect', server.address, '--server-key', 'nope']);
    expect(await malformed.exited).to.equal(1);
    expect(malformed.lines[0]).to.match(/^bittrrt: bad value for --server-key/);
  });

  it('--authorized-keys admits a client made with keygen --client, and only it', async () => {
    const d = dir();
    const clientKey = join(d, 'client.key');
    const keygen = children.run(['keygen', '--client', '--out', clientKey]);
    expect(await keygen.exited).to.equal(0);
    const publicLine = keygen.lines.find((l) => /^\S{44} SHA256:/.test(l));
    expect(publicLine, keygen.lines.join('\n')).to.be.a('string');
    const authorized = join(d, 'authorized_keys');
    writeFileSync(authorized, `# alice\n${publicLine}\n`);
    const server = await children.serve(['--authorized-keys', authorized]);
    const alice = children.run(['connect', server.address, '--identity', clientKey]);
    expect(await alice.exited).to.equal(0);
    const other = join(d, 'other.key');
    expect(await children.run(['keygen', '--client', '--out', other]).exited).to.equal(0);
    const mallory = children.run(['connect', server.address, '--identity', other]);
    expect(await mallory.exited).to.equal(1);
    expect(mallory.lines.join('\n')).to.include('cannot connect');
  });
});
