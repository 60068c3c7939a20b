import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, closeSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { BittrrtProcess } from '../../lib/cli/child.js';
import { Children } from '../helpers/cli.js';
import { ImpairmentProxy } from '../helpers/impair.js';
import { tempDir } from '../helpers/tmp.js';
import { eventually, PATIENCE } from '../helpers/udp.js';

const MiB = 1024 * 1024;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A file of `size` random bytes at `path`; returns its content. */
function randomFile(path: string, size: number): Buffer {
  const data = randomBytes(size);
  writeFileSync(path, data);
  return data;
}

/** Regex-escapes `text`. */
const literal = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The one line of `proc` that starts with `prefix NAME ` (or is exactly `prefix NAME`). */
function lineFor(proc: BittrrtProcess, prefix: string, name: string): string {
  const pattern = new RegExp(`^${literal(prefix)} ${literal(name)}( |$)`);
  const found = proc.lines.filter((l) => pattern.test(l));
  expect(found, `one "${prefix} ${name}" line in:\n${proc.lines.join('\n')}`).to.have.length(1);
  return found[0] as string;
}

/** The value of `key=` in a human log line, or undefined (not for size=, whose value has a space). */
function field(line: string, key: string): string | undefined {
  return new RegExp(`(?:^| )${literal(key)}=(\\S+)`).exec(line)?.[1];
}

/** The interrupted run's warning names the file, how far it got and the command that resumes it (`args`: its transfer options). */
function expectInterrupted(proc: BittrrtProcess, args: string): void {
  const warning = proc.lines.find((l) => l.startsWith('warn: interrupted: '));
  expect(warning, proc.lines.join('\n')).to.match(
    new RegExp(`^warn: interrupted: huge\\.bin is incomplete at [\\d.]+ [KM]iB of 24\\.0 MiB \\(\\d+%\\); to resume: bittrrt connect 127\\.0\\.0\\.1:\\d+ --no-pin ${literal(args)} --resume$`));
}

/** No line looks like a stack frame. */
function expectNoStack(proc: BittrrtProcess): void {
  expect(proc.lines.filter((l) => /^\s+at /.test(l) || /internal error/.test(l)), proc.lines.join('\n')).to.deep.equal([]);
}

describe('bin/bittrrt file transfer', function () {
  this.timeout(30_000 * PATIENCE);
  const children = new Children();
  const proxies: ImpairmentProxy[] = [];
  afterEach(async () => {
    await children.cleanup();
    for (const proxy of proxies.splice(0)) await proxy.close();
  });

  /** `bittrrt connect ADDRESS --no-pin ...args`. */
  const connect = (address: string, args: string[]): BittrrtProcess => children.run(['connect', address, '--no-pin', ...args]);

  /** A server with a fresh upload directory (nested one level, so its parent can be checked too). */
  async function serveDir(extra: string[] = []): Promise<{ proc: BittrrtProcess; address: string; port: number; dir: string; base: string }> {
    const base = tempDir('xfer');
    const dir = join(base, 'inbox');
    mkdirSync(dir);
    const server = await children.serve(['--dir', dir, ...extra]);
    return { ...server, dir, base };
  }

  it('uploads several files over one session, byte-identical, with matching SHA-256 summaries', async () => {
    const server = await serveDir();
    const src = tempDir('src');
    const sizes: Record<string, number> = {
      'empty.bin': 0, 'one.bin': 1, 'a1395.bin': 1395, 'a1396.bin': 1396, 'a1397.bin': 1397, 'big.bin': 3 * MiB,
    };
    const contents = new Map<string, Buffer>();
    for (const [name, size] of Object.entries(sizes)) contents.set(name, randomFile(join(src, name), size));

    const client = connect(server.address, Object.keys(sizes).flatMap((name) => ['--send', join(src, name)]));
    expect(await client.exited, client.lines.join('\n')).to.equal(0);

    for (const [name, data] of contents) {
      const line = lineFor(client, 'sent', name);
      expect(field(line, 'bytes'), line).to.equal(String(data.length));
      expect(field(line, 'sha256'), line).to.equal(sha256(data));
      expect(field(line, 'retransmitted_pct'), line).to.match(/^\d+(\.\d+)?$/);
      expect(line).to.match(/ seconds=[\d.]+ bytes_per_second=\d+ /);
      // One system per line: binary sizes, decimal rates, scaled so a tiny file's rate is not "0.0 MB/s".
      const rate = data.length === 0 ? '0 B' : '[1-9]\\d*(\\.\\d)? (B|kB|MB|GB)';
      expect(line, line).to.match(new RegExp(`^sent ${literal(name)} \\(\\d+(\\.\\d)? (B|KiB|MiB) in \\d+\\.\\d+ s, ${rate}/s\\) `));
      const [received] = await server.proc.waitForLine(new RegExp(`^received ${literal(name)} .*`), 15_000);
      expect(field(received, 'sha256'), received).to.equal(sha256(data));
      expect(readFileSync(join(server.dir, name)).equals(data), `${name} is byte-identical`).to.equal(true);
    }
    // All in one session, and nothing else in the directory (no part files left behind).
    expect(server.proc.lines.filter((l) => /session established/.test(l)), server.proc.lines.join('\n')).to.have.length(1);
    expect(readdirSync(server.dir).sort()).to.deep.equal(Object.keys(sizes).sort());
    expect(server.proc.lines.filter((l) => /^receiving /.test(l))).to.have.length(6);
    expect(lineFor(server.proc, 'receiving', 'one.bin')).to.match(/ size=1( |$)/);
    expect(client.lines.filter((l) => /^(warn|error): /.test(l))).to.deep.equal([]);
    const total = Object.values(sizes).reduce((a, b) => a + b, 0);
    const summary = client.lines.filter((l) => l.startsWith('total: '));
    expect(summary, client.lines.join('\n')).to.have.length(1);
    expect(summary[0]).to.match(/^total: 6 files, 3\.0 MiB in \d+\.\d+ s, [1-9]\d*(\.\d)? (kB|MB|GB)\/s /);
    expect(field(summary[0]!, 'bytes')).to.equal(String(total));
    expect(field(summary[0]!, 'failed')).to.equal('0');
  });

  it('--send F --as NAME stores the file under NAME', async () => {
    const server = await serveDir();
    const src = tempDir('src');
    const data = randomFile(join(src, 'original.bin'), 10_000);
    const client = connect(server.address, ['--send', join(src, 'original.bin'), '--as', 'other.bin']);
    expect(await client.exited, client.lines.join('\n')).to.equal(0);
    expect(field(lineFor(client, 'sent', 'other.bin'), 'sha256')).to.equal(sha256(data));
    await server.proc.waitForLine(/^received other\.bin /, 15_000);
    expect(readdirSync(server.dir)).to.deep.equal(['other.bin']);
    expect(readFileSync(join(server.dir, 'other.bin')).equals(data)).to.equal(true);
  });

  it('--get downloads into an --out directory and to an --out file; --json lines are JSON', async () => {
    const server = await serveDir(['--allow-download']);
    const data = randomFile(join(server.dir, 'served.bin'), 200_000);
    const out = tempDir('out');

    const intoDir = connect(server.address, ['--get', 'served.bin', '--out', out]);
    expect(await intoDir.exited, intoDir.lines.join('\n')).to.equal(0);
    expect(readFileSync(join(out, 'served.bin')).equals(data)).to.equal(true);
    const line = lineFor(intoDir, 'received', 'served.bin');
    expect(field(line, 'sha256')).to.equal(sha256(data));
    expect(field(line, 'bytes')).to.equal(String(data.length));

    const file = join(out, 'renamed.bin');
    const toFile = connect(server.address, ['--get', 'served.bin', '--out', file, '--json']);
    expect(await toFile.exited, toFile.lines.join('\n')).to.equal(0);
    expect(readFileSync(file).equals(data)).to.equal(true);
    const entries = toFile.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const received = entries.filter((e) => typeof e.msg === 'string' && e.msg.startsWith('received'));
    expect(received, toFile.lines.join('\n')).to.have.length(1);
    expect(received[0]).to.include({ name: 'served.bin', bytes: data.length, sha256: sha256(data) });
    expect(received[0]!.msg).to.match(/^received served\.bin \(195\.3 KiB in /);
    // Numbers are numbers, in the units their keys name.
    expect(received[0]!.seconds).to.be.a('number').above(0);
    expect(received[0]!.bytes_per_second).to.be.a('number').above(0);
    expect(received[0]!.rate, 'no formatted strings in place of numbers').to.equal(undefined);
    expect(readdirSync(out).sort()).to.deep.equal(['renamed.bin', 'served.bin']);
    await server.proc.waitForLine(/^sent served\.bin .*sha256=/, 15_000);
  });

  it('--get --resume continues from the part file in --out', async () => {
    const server = await serveDir(['--allow-download']);
    const data = randomFile(join(server.dir, 'served.bin'), 2 * MiB);
    const out = tempDir('out');
    const kept = 700_000;
    writeFileSync(join(out, 'served.bin.part'), data.subarray(0, kept));
    const client = connect(server.address, ['--get', 'served.bin', '--out', out, '--resume']);
    expect(await client.exited, client.lines.join('\n')).to.equal(0);
    expect(readFileSync(join(out, 'served.bin')).equals(data), 'byte-identical').to.equal(true);
    expect(readdirSync(out)).to.deep.equal(['served.bin']);
    const line = lineFor(client, 'received', 'served.bin');
    expect(field(line, 'sha256')).to.equal(sha256(data));
    expect(Number(field(line, 'resumed_at')), `the download resumed instead of starting over\n${line}`).to.equal(kept);
  });

  describe('refusals', () => {
    it('a server without --dir refuses uploads, saying why', async () => {
      const server = await children.serve();
      const src = tempDir('src');
      randomFile(join(src, 'f.bin'), 5_000);
      const client = connect(server.address, ['--send', join(src, 'f.bin')]);
      expect(await client.exited).to.equal(1);
      expect(client.lines.filter((l) => l.startsWith('error: ')).join('\n'), client.lines.join('\n')).to.include('this server accepts no files');
      expect(readdirSync(src)).to.deep.equal(['f.bin']);
      expectNoStack(client);
    });

    it('a server with --bandwidth-tests off refuses a bandwidth test, and the client shows why', async () => {
      const server = await children.serve(['--bandwidth-tests', 'off']);
      const client = connect(server.address, ['--bwdown', '1']);
      expect(await client.exited).to.equal(1);
      expect(client.lines.filter((l) => l.startsWith('error: ')).join('\n'), client.lines.join('\n')).to.include('this server runs no bandwidth tests');
      const up = connect(server.address, ['--bwup', '1']);
      expect(await up.exited).to.equal(1);
      expect(up.lines.filter((l) => l.startsWith('error: ')).join('\n'), up.lines.join('\n')).to.include('this server runs no bandwidth tests');
      expectNoStack(client);
    });

    it('the default policy refuses a bandwidth test longer than a minute, saying so', async () => {
      const server = await children.serve();
      const client = connect(server.address, ['--bwup', '61']);
      expect(await client.exited).to.equal(1);
      expect(client.lines.filter((l) => l.startsWith('error: ')).join('\n'), client.lines.join('\n')).to.include('bandwidth tests of at most 60 s');
    });

    it('an existing name is refused without --overwrite and replaced with it', async () => {
      const server = await serveDir();
      const src = tempDir('src');
      const original = randomFile(join(server.dir, 'same.bin'), 4_000);
      const replacement = randomFile(join(src, 'same.bin'), 6_000);

      const refused = connect(server.address, ['--send', join(src, 'same.bin')]);
      expect(await refused.exited).to.equal(1);
      expect(refused.lines.find((l) => l.startsWith('error: ')), refused.lines.join('\n')).to.include('already exists');
      expect(readFileSync(join(server.dir, 'same.bin')).equals(original)).to.equal(true);
      expect(readdirSync(server.dir)).to.deep.equal(['same.bin']);

      const replaced = connect(server.address, ['--send', join(src, 'same.bin'), '--overwrite']);
      expect(await replaced.exited, replaced.lines.join('\n')).to.equal(0);
      expect(readFileSync(join(server.dir, 'same.bin')).equals(replacement)).to.equal(true);
      expect(readdirSync(server.dir)).to.deep.equal(['same.bin']);
    });

    it('a server with --refuse-overwrite keeps an existing file even when the client asks --overwrite', async () => {
      const server = await serveDir(['--refuse-overwrite']);
      const src = tempDir('src');
      const original = randomFile(join(server.dir, 'same.bin'), 4_000);
      randomFile(join(src, 'same.bin'), 6_000);
      const refused = connect(server.address, ['--send', join(src, 'same.bin'), '--overwrite']);
      expect(await refused.exited).to.equal(1);
      expect(refused.lines.find((l) => l.startsWith('error: ')), refused.lines.join('\n')).to.include('this server does not replace existing files');
      expect(readFileSync(join(server.dir, 'same.bin')).equals(original)).to.equal(true);
    });

    it('serve --max-size refuses a larger upload and connect --max-size a larger download, each saying the limit, writing nothing', async () => {
      const server = await serveDir(['--max-size', '1', '--allow-download']);
      const src = tempDir('src');
      randomFile(join(src, 'two.bin'), 2 * MiB);
      const up = connect(server.address, ['--send', join(src, 'two.bin')]);
      expect(await up.exited).to.equal(1);
      expect(up.lines.find((l) => l.startsWith('error: ')), up.lines.join('\n')).to.include('two.bin is 2.0 MiB, larger than what this server takes: 1.0 MiB');
      expect(readdirSync(server.dir)).to.deep.equal([]);
      randomFile(join(server.dir, 'served.bin'), 2 * MiB);
      const out = tempDir('out');
      const down = connect(server.address, ['--get', 'served.bin', '--out', out, '--max-size', '1']);
      expect(await down.exited).to.equal(1);
      expect(down.lines.find((l) => l.startsWith('error: ')), down.lines.join('\n')).to.include('served.bin is 2.0 MiB, larger than the limit (--max-size): 1.0 MiB');
      expect(readdirSync(out)).to.deep.equal([]);
      expectNoStack(down);
    });

    it('--get from a server without --allow-download is refused', async () => {
      const server = await serveDir();
      writeFileSync(join(server.dir, 'secret.bin'), 'not for download');
      const out = tempDir('out');
      const client = connect(server.address, ['--get', 'secret.bin', '--out', out]);
      expect(await client.exited).to.equal(1);
      expect(client.lines.find((l) => l.startsWith('error: ')), client.lines.join('\n')).to.include('serves no downloads');
      expect(existsSync(join(out, 'secret.bin'))).to.equal(false);
      expectNoStack(client);
    });

    it('a refused --get leaves nothing in --out, not even an empty part file', async () => {
      const server = await serveDir();
      writeFileSync(join(server.dir, 'secret.bin'), 'not for download');
      const out = tempDir('out');
      const client = connect(server.address, ['--get', 'secret.bin', '--out', out]);
      expect(await client.exited).to.equal(1);
      expect(readdirSync(out)).to.deep.equal([]);
    });

    it('--as ../x is refused locally before anything reaches the server', async () => {
      const server = await serveDir();
      const src = tempDir('src');
      randomFile(join(src, 'f.bin'), 5_000);
      const client = connect(server.address, ['--send', join(src, 'f.bin'), '--as', '../x']);
      expect(await client.exited).to.not.equal(0);
      const error = client.lines.find((l) => l.startsWith('error: ')) ?? '';
      // An upload may name a file in a tree, so `/` separates components, and `..` is refused as one.
      expect(error, client.lines.join('\n')).to.include('".." in the path: ".." is not a file name');
      expect(error, 'refused by the client itself, not by the server').to.include('cannot send as').and.not.include('the peer refused');
      expect(readdirSync(server.dir)).to.deep.equal([]);
      expect(readdirSync(server.base)).to.deep.equal(['inbox']);
      expect(server.proc.lines.filter((l) => /receiving|received/.test(l))).to.deep.equal([]);
      expectNoStack(client);
    });

    it('--as with two --send is a usage error', async () => {
      const server = await serveDir();
      const src = tempDir('src');
      randomFile(join(src, 'a.bin'), 10);
      randomFile(join(src, 'b.bin'), 10);
      const client = connect(server.address, ['--send', join(src, 'a.bin'), '--send', join(src, 'b.bin'), '--as', 'c.bin']);
      expect(await client.exited).to.not.equal(0);
      expect(client.lines).to.have.length(1);
      expect(client.lines[0]).to.match(/^bittrrt: .*--as/);
      expect(readdirSync(server.dir)).to.deep.equal([]);
    });

    it('--out must be a directory with several --get; --bwup beyond an hour is a usage error', async () => {
      const server = await serveDir(['--allow-download']);
      const out = join(tempDir('o'), 'file.bin');
      const several = connect(server.address, ['--get', 'a', '--get', 'b', '--out', out]);
      expect(await several.exited).to.not.equal(0);
      expect(several.lines).to.deep.equal(['bittrrt: with several --get, --out must be a directory (an existing one, or one ending in / to create) (see --help)']);
      const long = connect(server.address, ['--bwup', '3601']);
      expect(await long.exited).to.not.equal(0);
      expect(long.lines).to.deep.equal(['bittrrt: bad value for --bwup: "3601" (expected a whole number 1-3600) (see --help)']);
      expect(server.proc.lines.filter((l) => /session established/.test(l))).to.deep.equal([]);
    });

    it('serve --allow-download without --dir is a usage error', async () => {
      const proc = children.run(['serve', '--bind', '127.0.0.1', '--port', '0', '--allow-download']);
      expect(await proc.exited).to.not.equal(0);
      expect(proc.lines).to.have.length(1);
      expect(proc.lines[0]).to.match(/^bittrrt: .*--allow-download.*--dir/);
    });

    it('serve --dir naming a missing directory (or a file) is a usage error that says which, and how to make a missing one', async () => {
      const base = tempDir('nodir');
      writeFileSync(join(base, 'file'), 'x');
      for (const [dir, said] of [
        [join(base, 'missing'), `does not exist: create it first (mkdir -p ${join(base, 'missing')})`],
        [join(base, 'file'), 'is not a directory'],
      ] as const) {
        const proc = children.run(['serve', '--bind', '127.0.0.1', '--port', '0', '--dir', dir]);
        expect(await proc.exited).to.not.equal(0);
        expect(proc.lines, dir).to.have.length(1);
        expect(proc.lines[0]).to.include(`bittrrt: --dir ${JSON.stringify(dir)} ${said}`);
      }
      expect(readdirSync(base)).to.deep.equal(['file']);
    });
  });

  describe('interrupt and resume', () => {
    const SIZE = 24 * MiB;
    const src = tempDir('src');
    const bigPath = join(src, 'huge.bin');
    let big: Buffer;
    before(() => {
      big = randomFile(bigPath, SIZE);
    });

    /** Starts an upload of huge.bin through a slow proxy and interrupts it with SIGINT past 1 MiB. */
    async function interruptedUpload(): Promise<{ server: Awaited<ReturnType<typeof serveDir>>; part: string }> {
      const server = await serveDir();
      const proxy = await ImpairmentProxy.start(server.port, { seed: 7, delayMs: 2 });
      proxies.push(proxy);
      const part = join(server.dir, 'huge.bin.part');
      const client = connect(`127.0.0.1:${proxy.port}`, ['--send', bigPath]);
      const partSize = (): number => (existsSync(part) ? statSync(part).size : 0);
      expect(await eventually(() => partSize() > MiB || client.child.exitCode !== null, 15_000),
        `part file grows past 1 MiB\n${client.lines.join('\n')}`).to.equal(true);
      expect(client.child.exitCode, `still running when past 1 MiB\n${client.lines.join('\n')}`).to.equal(null);
      client.child.kill('SIGINT');
      expect(await client.exited, client.lines.join('\n')).to.equal(130);
      expectInterrupted(client, `--send ${bigPath}`);
      // The server notices the abort and lets go of the part file.
      await server.proc.waitForLine(/^warn: transfer of huge\.bin failed: /, 15_000);
      expect(existsSync(join(server.dir, 'huge.bin'))).to.equal(false);
      expect(existsSync(part)).to.equal(true);
      expect(statSync(part).size).to.be.above(MiB).and.below(SIZE);
      return { server, part };
    }

    it('SIGINT exits 130, warns, and keeps NAME.part (a prefix of the file) but no NAME', async () => {
      const { part } = await interruptedUpload();
      const kept = readFileSync(part);
      expect(kept.equals(big.subarray(0, kept.length)), 'the part file is a prefix of the file').to.equal(true);
    });

    it('SIGTERM stops a transfer the same way, with exit code 143', async () => {
      const server = await serveDir();
      const proxy = await ImpairmentProxy.start(server.port, { seed: 8, delayMs: 2 });
      proxies.push(proxy);
      const part = join(server.dir, 'huge.bin.part');
      const client = connect(`127.0.0.1:${proxy.port}`, ['--send', bigPath]);
      expect(await eventually(() => existsSync(part) && statSync(part).size > MiB, 15_000)).to.equal(true);
      client.child.kill('SIGTERM');
      expect(await client.exited, client.lines.join('\n')).to.equal(143);
      expectInterrupted(client, `--send ${bigPath}`);
    });

    it('--resume continues from the part file where the interrupted run stopped', async () => {
      const { server, part } = await interruptedUpload();
      const kept = statSync(part).size;

      const resumed = connect(server.address, ['--send', bigPath, '--resume']);
      expect(await resumed.exited, resumed.lines.join('\n')).to.equal(0);
      const line = lineFor(resumed, 'sent', 'huge.bin');
      expect(field(line, 'bytes')).to.equal(String(SIZE));
      expect(field(line, 'sha256')).to.equal(sha256(big));
      await server.proc.waitForLine(/^received huge\.bin /, 15_000);
      expect(readFileSync(join(server.dir, 'huge.bin')).equals(big), 'byte-identical').to.equal(true);
      expect(existsSync(part)).to.equal(false);
      const receiving = server.proc.lines.filter((l) => l.startsWith('receiving huge.bin '));
      expect(receiving, 'the first run and the resumed one').to.have.length(2);
      expect(receiving[1], 'the server offers to resume where its part file ends').to.include(`resume_at=${kept}`);
      expect(Number(field(line, 'resumed_at')), `the sender resumed instead of starting over\n${line}`).to.equal(kept);
    });

    it('--resume over a corrupted part file starts over and still delivers the right bytes', async () => {
      const { server, part } = await interruptedUpload();
      const fd = openSync(part, 'r+');
      try {
        const garbage = Buffer.from(big.subarray(0, 4096).map((b) => b ^ 0xff));
        writeSync(fd, garbage, 0, garbage.length, 0);
      } finally {
        closeSync(fd);
      }

      const resumed = connect(server.address, ['--send', bigPath, '--resume']);
      expect(await resumed.exited, resumed.lines.join('\n')).to.equal(0);
      const line = lineFor(resumed, 'sent', 'huge.bin');
      expect(field(line, 'resumed_at'), line).to.equal(undefined);
      expect(field(line, 'sha256')).to.equal(sha256(big));
      expect(resumed.lines).to.include('warn: huge.bin: the server\'s part file huge.bin.part was not the start of this file; it was emptied and everything sent again');
      const [received] = await server.proc.waitForLine(/^received huge\.bin .*/, 15_000);
      expect(field(received, 'resumed_at'), received).to.equal(undefined);
      // The server did offer its part file; the sender's prefix check turned it down.
      expect(server.proc.lines.filter((l) => l.startsWith('receiving huge.bin '))[1]).to.match(/ resume_at=\d+/);
      expect(readFileSync(join(server.dir, 'huge.bin')).equals(big), 'byte-identical').to.equal(true);
      expect(existsSync(part)).to.equal(false);
    });
  });

  it('--bwup 1 --bwdown 1 print per-second lines in bytes and Mbit/s and a summary for each direction; --bwdown is named the reverse mode', async () => {
    const server = await children.serve();
    const client = connect(server.address, ['--bwup', '1', '--bwdown', '1']);
    expect(await client.exited, client.lines.join('\n')).to.equal(0);
    const text = client.lines.join('\n');
    const upAt = client.lines.findIndex((l) => l.startsWith('bandwidth test, this side sends to the server, for 1 s'));
    const downAt = client.lines.findIndex((l) => l.startsWith('bandwidth test, reverse mode (--bwdown): the server sends to this side, for 1 s'));
    expect(upAt, text).to.be.at.least(0);
    expect(downAt, text).to.be.above(upAt);
    for (const [title, lines] of [['up', client.lines.slice(upAt, downAt)], ['down (reverse)', client.lines.slice(downAt)]] as const) {
      const perSecond = lines.filter((l) => /^\[ {0,2}\d+s\] +\d+(\.\d)? (B|KiB|MiB|GiB) +\d+(\.\d)? [kMG]?bit\/s second=\d+ bytes=\d+ mbit_s=[\d.]+$/.test(l));
      expect(perSecond, `${title}:\n${text}`).to.have.length.at.least(1);
      const summaries = lines.filter((l) => l.startsWith(`bandwidth ${title}: `));
      expect(summaries, text).to.have.length(1);
      const summary = summaries[0] as string;
      expect(summary, summary).to.match(/ in [\d.]+ s, [\d.]+ [kMG]?bit\/s \([\d.]+ [kMG]?B\/s\)/);
      expect(Number(field(summary, 'mbit_s')), summary).to.be.above(0);
      expect(field(summary, 'loss_pct'), summary).to.match(/^\d+(\.\d+)?$/);
      expect(field(summary, 'rtt_ms'), summary).to.match(/^\d+(\.\d+)?$/);
    }
    // The server logs each test too; a bandwidth test has no file and so no hash field.
    const [served] = await server.proc.waitForLine(/^sent bandwidth test .*$/, 15_000);
    expect(served, served).to.match(/ bytes_per_second=\d+/);
    expect(served, served).to.not.match(/sha256=/);
  });

  it('Ctrl-C during a bandwidth test prints the summary of what it measured, then exits 130', async () => {
    const server = await children.serve();
    const client = connect(server.address, ['--bwup', '60']);
    // The first per-second line: the test is running and has measured something.
    await client.waitForLine(/^\[ {0,2}1s\] /, 30_000);
    client.child.kill('SIGINT');
    expect(await client.exited, client.lines.join('\n')).to.equal(130);
    const summary = client.lines.find((l) => l.startsWith('bandwidth up, interrupted: '));
    expect(summary, client.lines.join('\n')).to.be.a('string');
    expect(summary).to.match(/ in [\d.]+ s, [\d.]+ [kMG]?bit\/s /);
    expect(Number(field(summary!, 'bytes')), summary).to.be.above(0);
    expect(Number(field(summary!, 'seconds')), summary).to.be.at.least(1).and.below(60);
  });
});
