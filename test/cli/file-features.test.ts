import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BITTRRT_BIN, type BittrrtProcess } from '../../lib/cli/child.js';
import { Children, testEnv } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { PATIENCE } from '../helpers/udp.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A run of bin/bittrrt with its standard streams as bytes: stdin fed from `input`. */
interface PipedRun {
  code: number | NodeJS.Signals;
  stdout: Buffer;
  stderr: string;
}

/** Runs `bittrrt ARGS` with `input` on its standard input, collecting stdout as bytes. */
function runPiped(args: string[], input: Buffer, running: Set<ReturnType<typeof spawn>>): Promise<PipedRun> {
  const child = spawn(process.execPath, [BITTRRT_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: testEnv() });
  running.add(child);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin.on('error', () => undefined);
  child.stdin.end(input);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code: code ?? (signal as NodeJS.Signals), stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString() });
    });
  });
}

/** The value of `key=` in a human log line. */
function field(line: string, key: string): string | undefined {
  return new RegExp(`(?:^| )${key}=(\\S+)`).exec(line)?.[1];
}

function receivedLine(proc: BittrrtProcess, name: string): string {
  const found = proc.lines.filter((l) => l.startsWith(`received ${name} `));
  expect(found, proc.lines.join('\n')).to.have.length(1);
  return found[0] as string;
}

describe('bin/bittrrt file features: pipes, --out directories, metadata, --list, part files', function () {
  this.timeout(30_000 * PATIENCE);
  const children = new Children();
  const piped = new Set<ReturnType<typeof spawn>>();
  afterEach(async () => {
    for (const child of piped) child.kill('SIGKILL');
    piped.clear();
    await children.cleanup();
  });

  const connect = (address: string, args: string[]): BittrrtProcess => children.run(['connect', address, '--no-pin', ...args]);

  async function serveDir(extra: string[] = []): Promise<{ proc: BittrrtProcess; address: string; dir: string }> {
    const dir = join(tempDir('pipes'), 'inbox');
    mkdirSync(dir);
    const server = await children.serve(['--dir', dir, ...extra]);
    return { ...server, dir };
  }

  describe('directories', () => {
    it('--send DIR sends the tree: nested files byte-identical, empty directories kept, links and special files skipped and named, one summary', async () => {
      const server = await serveDir();
      const root = join(tempDir('tree'), 'photos');
      mkdirSync(join(root, 'a', 'b'), { recursive: true });
      mkdirSync(join(root, 'empty'));
      const deep = randomBytes(300_000);
      writeFileSync(join(root, 'a', 'b', 'deep.bin'), deep);
      writeFileSync(join(root, 'top.txt'), 'top');
      const outside = tempDir('outside');
      writeFileSync(join(outside, 'secret.txt'), 'secret');
      symlinkSync(join(outside, 'secret.txt'), join(root, 'a', 'leak.txt'));
      symlinkSync(outside, join(root, 'escape'));

      const client = connect(server.address, ['--send', root]);
      expect(await client.exited, client.lines.join('\n')).to.equal(0);
      expect(readFileSync(join(server.dir, 'photos', 'a', 'b', 'deep.bin')).equals(deep)).to.equal(true);
      expect(readFileSync(join(server.dir, 'photos', 'top.txt'), 'utf8')).to.equal('top');
      expect(statSync(join(server.dir, 'photos', 'empty')).isDirectory()).to.equal(true);
      expect(readdirSync(join(server.dir, 'photos', 'a')).sort()).to.deep.equal(['b']);
      expect(readdirSync(join(server.dir, 'photos')).sort()).to.deep.equal(['a', 'empty', 'top.txt']);
      expect(client.lines).to.include('warn: skipped photos/a/leak.txt: a symbolic link (not followed)');
      expect(client.lines).to.include('warn: skipped photos/escape: a symbolic link (not followed)');
      const summaries = client.lines.filter((l) => l.startsWith('sent '));
      expect(summaries, client.lines.join('\n')).to.have.length(1);
      expect(summaries[0]).to.match(new RegExp(`^sent photos .*bytes=${deep.length + 3} `));
      expect(client.lines).to.include('photos: 2 file(s) and 1 empty directory sent files=2 empty_directories=1 skipped=2');
    });
    it('--send DIR again: files already there, the same, move nothing and the summary counts them; a changed one is refused naming it and --overwrite', async () => {
      const server = await serveDir();
      const root = join(tempDir('again'), 'photos');
      mkdirSync(join(root, 'sub'), { recursive: true });
      writeFileSync(join(root, 'a.txt'), 'hello');
      writeFileSync(join(root, 'sub', 'b.bin'), randomBytes(50_000));
      const first = connect(server.address, ['--send', root]);
      expect(await first.exited, first.lines.join('\n')).to.equal(0);

      writeFileSync(join(root, 'c.txt'), 'new');
      const again = connect(server.address, ['--send', root]);
      expect(await again.exited, again.lines.join('\n')).to.equal(0);
      expect(again.lines).to.include('photos: 3 file(s) (2 already there) and 0 empty directories sent files=3 unchanged=2 empty_directories=0 skipped=0');
      expect(again.lines.find((l) => l.startsWith('sent photos '))).to.match(/^sent photos \(48\.8 KiB, 2 file\(s\) already there: 3 B in .* unchanged=2 /);
      expect(readFileSync(join(server.dir, 'photos', 'c.txt'), 'utf8')).to.equal('new');

      const single = connect(server.address, ['--send', join(root, 'a.txt')]);
      expect(await single.exited, single.lines.join('\n')).to.equal(0);
      const twice = connect(server.address, ['--send', join(root, 'a.txt')]);
      expect(await twice.exited, twice.lines.join('\n')).to.equal(0);
      expect(twice.lines.find((l) => l.startsWith('a.txt'))).to.match(/^a\.txt: already on the server, the same size and SHA-256 \(5 B\): nothing moved .*unchanged=1 /);

      writeFileSync(join(root, 'a.txt'), 'HELLO');
      const changed = connect(server.address, ['--send', root]);
      expect(await changed.exited).to.equal(1);
      expect(changed.lines).to.include('error: the server refused: photos/a.txt already exists on the server and differs from the file sent (use --overwrite)');
      const replaced = connect(server.address, ['--send', root, '--overwrite']);
      expect(await replaced.exited, replaced.lines.join('\n')).to.equal(0);
      expect(readFileSync(join(server.dir, 'photos', 'a.txt'), 'utf8')).to.equal('HELLO');
    });

    it('--get DIR downloads the tree: bytes, modes and mtimes kept, a nested empty directory made, a link on the server not offered, one summary', async () => {
      const server = await serveDir(['--allow-download']);
      const root = join(server.dir, 'photos');
      mkdirSync(join(root, 'a', 'b', 'empty'), { recursive: true });
      const deep = randomBytes(300_000);
      const mtime = new Date('2001-02-03T04:05:06.789Z');
      writeFileSync(join(root, 'a', 'b', 'deep.bin'), deep);
      writeFileSync(join(root, 'tool.sh'), '#!/bin/sh\n');
      chmodSync(join(root, 'tool.sh'), 0o750);
      for (const name of ['tool.sh', 'a/b/deep.bin']) utimesSync(join(root, name), new Date(), mtime);
      const outside = tempDir('outside');
      writeFileSync(join(outside, 'secret.txt'), 'secret');
      symlinkSync(outside, join(root, 'escape'));

      const listed = await runPiped(['connect', server.address, '--no-pin', '--list'], Buffer.alloc(0), piped);
      expect(listed.stdout.toString()).to.match(/^ +- +\S+ \S+  photos\/$/m);

      const out = join(tempDir('got'), 'downloads') + '/';
      const client = connect(server.address, ['--get', 'photos', '--out', out]);
      expect(await client.exited, client.lines.join('\n')).to.equal(0);
      const got = join(out, 'photos');
      expect(readFileSync(join(got, 'a', 'b', 'deep.bin')).equals(deep)).to.equal(true);
      expect(readFileSync(join(got, 'tool.sh'), 'utf8')).to.equal('#!/bin/sh\n');
      expect(statSync(join(got, 'tool.sh')).mode & 0o777).to.equal(0o750 & ~process.umask());
      for (const name of ['tool.sh', 'a/b/deep.bin']) expect(statSync(join(got, name)).mtime.getTime(), name).to.equal(mtime.getTime());
      expect(readdirSync(join(got, 'a', 'b', 'empty'))).to.deep.equal([]);
      expect(readdirSync(got).sort()).to.deep.equal(['a', 'tool.sh']);
      const summaries = client.lines.filter((l) => l.startsWith('received '));
      expect(summaries, client.lines.join('\n')).to.have.length(1);
      expect(summaries[0]).to.match(new RegExp(`^received photos .*bytes=${deep.length + 10} `));
      expect(client.lines).to.include(`photos: 2 file(s) and 3 directories received into ${got} files=2 directories=3`);

      // A file inside the tree by its path, into the current --out; and never through the server's link.
      const one = connect(server.address, ['--get', 'photos/a/b/deep.bin', '--out', join(out, 'one.bin')]);
      expect(await one.exited, one.lines.join('\n')).to.equal(0);
      expect(readFileSync(join(out, 'one.bin')).equals(deep)).to.equal(true);
      const escape = connect(server.address, ['--get', 'photos/escape/secret.txt', '--out', out]);
      expect(await escape.exited).to.equal(1);
      expect(escape.lines).to.include('error: photos/escape/secret.txt: the server refused: photos/escape exists on the server and is not a directory (a symbolic link, not followed)');
      expect(existsSync(join(out, 'secret.txt'))).to.equal(false);
    });
  });

  describe('pipes', () => {
    it('--send - uploads standard input under --as NAME; without --as it is a usage error', async () => {
      const server = await serveDir();
      const data = randomBytes(300_000);
      const unnamed = await runPiped(['connect', server.address, '--no-pin', '--send', '-'], data, piped);
      expect(unnamed.code).to.equal(1);
      expect(unnamed.stderr).to.equal('bittrrt: --send - reads standard input: name the file on the server with --as NAME (see --help)\n');

      const named = await runPiped(['connect', server.address, '--no-pin', '--send', '-', '--as', 'piped.bin'], data, piped);
      expect(named.code, named.stderr + named.stdout.toString()).to.equal(0);
      expect(named.stdout.toString()).to.match(new RegExp(`^sent piped\\.bin .*sha256=${sha256(data)}`, 'm'));
      await server.proc.waitForLine(/^received piped\.bin /, 15_000);
      expect(readFileSync(join(server.dir, 'piped.bin')).equals(data), 'byte-identical').to.equal(true);
      expect(readdirSync(server.dir)).to.deep.equal(['piped.bin']);
    });

    it('--get NAME --out - writes the file, and nothing else, to standard output; the summary goes to stderr', async () => {
      const server = await serveDir(['--allow-download']);
      const data = randomBytes(2 * 1024 * 1024 + 17);
      writeFileSync(join(server.dir, 'served.bin'), data);
      const run = await runPiped(['connect', server.address, '--no-pin', '--get', 'served.bin', '--out', '-'], Buffer.alloc(0), piped);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout.length).to.equal(data.length);
      expect(run.stdout.equals(data), 'stdout is exactly the file').to.equal(true);
      expect(run.stderr).to.match(new RegExp(`^received served\\.bin .*sha256=${sha256(data)}`, 'm'));
      // The client runs in this process's directory: no file named "-" (or its part file) was made there.
      expect(existsSync('-')).to.equal(false);
      expect(existsSync('-.part')).to.equal(false);
    });

    it('--out - takes exactly one --get', async () => {
      const server = await serveDir(['--allow-download']);
      const two = connect(server.address, ['--get', 'a', '--get', 'b', '--out', '-']);
      expect(await two.exited).to.equal(1);
      expect(two.lines).to.deep.equal(['bittrrt: --out - writes one download to standard output: use it with exactly one --get (see --help)']);
    });
  });

  describe('--out with a missing directory', () => {
    it('--out DIR/ (ending in /) creates the directory and its parents', async () => {
      const server = await serveDir(['--allow-download']);
      const data = randomBytes(50_000);
      writeFileSync(join(server.dir, 'served.bin'), data);
      const out = join(tempDir('out'), 'new', 'sub');
      const client = connect(server.address, ['--get', 'served.bin', '--out', `${out}/`]);
      expect(await client.exited, client.lines.join('\n')).to.equal(0);
      expect(readFileSync(join(out, 'served.bin')).equals(data)).to.equal(true);
      expect(readdirSync(out)).to.deep.equal(['served.bin']);
    });

    it('--out DIR/FILE whose DIR is missing is refused in one sentence, and the server never hears of it', async () => {
      const server = await serveDir(['--allow-download']);
      writeFileSync(join(server.dir, 'served.bin'), randomBytes(1000));
      const base = tempDir('out');
      const out = join(base, 'missing', 'file.bin');
      const client = connect(server.address, ['--get', 'served.bin', '--out', out]);
      expect(await client.exited).to.equal(1);
      // Refused before the handshake, as a usage error: nothing was asked of the server.
      expect(client.lines).to.include(`bittrrt: --out ${out}: the directory ${join(base, 'missing')} does not exist (end --out with / to have it created) (see --help)`);
      expect(client.lines.filter((l) => /ENOENT|\.part: no such file/.test(l)), client.lines.join('\n')).to.deep.equal([]);
      expect(readdirSync(base)).to.deep.equal([]);
      expect(server.proc.lines.filter((l) => /sending served\.bin/.test(l))).to.deep.equal([]);
    });

    it('a download that fails on the client\'s disk never tells the server the client\'s local path', async () => {
      const server = await serveDir(['--allow-download']);
      writeFileSync(join(server.dir, 'served.bin'), randomBytes(100_000));
      const base = tempDir('local-secret');
      // The part file's place is taken by a directory: the client fails once the server is sending.
      mkdirSync(join(base, 'served.bin.part'));
      const client = connect(server.address, ['--get', 'served.bin', '--out', base, '--no-resume']);
      expect(await client.exited).to.equal(1);
      expect(client.lines).to.include(`error: ${join(base, 'served.bin.part')}: is a directory`);
      const [failed] = await server.proc.waitForLine(/^warn: transfer of served\.bin failed: .*/, 15_000);
      expect(failed).to.include('the peer aborted: the downloader could not write its copy of the file');
      expect(server.proc.lines.filter((l) => l.includes(base) || l.includes('local-secret')), server.proc.lines.join('\n')).to.deep.equal([]);
    });
  });

  describe('metadata', () => {
    const mtime = new Date('2001-02-03T04:05:06.789Z');
    /** What a received file of `mode` ends up with: the permission bits less the receiver's umask (the tests' own). */
    const kept = (mode: number): number => mode & 0o777 & ~process.umask();

    it('an upload keeps its modification time and permission bits, bounded by the umask, never setuid', async () => {
      const server = await serveDir();
      const src = tempDir('src');
      for (const [name, mode] of [['tool.sh', 0o755], ['setuid.bin', 0o4775]] as const) {
        writeFileSync(join(src, name), randomBytes(5000));
        chmodSync(join(src, name), mode);
        utimesSync(join(src, name), new Date(), mtime);
      }
      const client = connect(server.address, ['--send', join(src, 'tool.sh'), '--send', join(src, 'setuid.bin')]);
      expect(await client.exited, client.lines.join('\n')).to.equal(0);
      await server.proc.waitForLine(/^received setuid\.bin /, 15_000);
      const tool = statSync(join(server.dir, 'tool.sh'));
      expect(tool.mode & 0o7777).to.equal(kept(0o755));
      expect(tool.mtime.getTime()).to.equal(mtime.getTime());
      expect(statSync(join(server.dir, 'setuid.bin')).mode & 0o7777).to.equal(kept(0o775));
    });

    it('a download keeps the server file\'s modification time and permission bits', async () => {
      const server = await serveDir(['--allow-download']);
      const path = join(server.dir, 'served.sh');
      writeFileSync(path, randomBytes(5000));
      chmodSync(path, 0o750);
      utimesSync(path, new Date(), mtime);
      const out = tempDir('out');
      const client = connect(server.address, ['--get', 'served.sh', '--out', out]);
      expect(await client.exited, client.lines.join('\n')).to.equal(0);
      const got = statSync(join(out, 'served.sh'));
      expect(got.mode & 0o7777).to.equal(kept(0o750));
      expect(got.mtime.getTime()).to.equal(mtime.getTime());
    });

    it('a piped upload gets the receiver\'s defaults, not the spool file\'s time', async () => {
      const server = await serveDir();
      const before = Date.now();
      const run = await runPiped(['connect', server.address, '--no-pin', '--send', '-', '--as', 'piped.txt'], Buffer.from('data'), piped);
      expect(run.code, run.stderr).to.equal(0);
      await server.proc.waitForLine(/^received piped\.txt /, 15_000);
      const got = statSync(join(server.dir, 'piped.txt'));
      expect(got.mode & 0o777).to.equal(0o600);
      expect(got.mtime.getTime()).to.be.at.least(before - 1000);
    });
  });

  describe('--list', () => {
    it('shows the files and directories a server offers (size, time, name; a directory ends in /); --json prints one object per entry with numbers as numbers', async () => {
      const server = await serveDir(['--allow-download']);
      writeFileSync(join(server.dir, 'b.bin'), randomBytes(2048));
      writeFileSync(join(server.dir, 'a.txt'), 'hello');
      utimesSync(join(server.dir, 'a.txt'), new Date(), new Date('2001-02-03T04:05:06.000Z'));
      writeFileSync(join(server.dir, 'half.bin.part'), 'partial');
      mkdirSync(join(server.dir, 'sub'));
      utimesSync(join(server.dir, 'sub'), new Date(), new Date('2001-02-03T04:05:06.000Z'));

      const human = await runPiped(['connect', server.address, '--no-pin', '--list'], Buffer.alloc(0), piped);
      expect(human.code, human.stderr).to.equal(0);
      expect(human.stdout.toString().split('\n').filter(Boolean)).to.deep.equal([
        `       5 B  2001-02-03 04:05:06  a.txt`,
        `   2.0 KiB  ${new Date(statSync(join(server.dir, 'b.bin')).mtimeMs).toISOString().replace('T', ' ').slice(0, 19)}  b.bin`,
        `         -  2001-02-03 04:05:06  sub/`,
      ]);
      expect(human.stderr).to.match(/^2 file\(s\) and 1 directory offered/m);

      const json = await runPiped(['connect', server.address, '--no-pin', '--list', '--json'], Buffer.alloc(0), piped);
      expect(json.code, json.stderr).to.equal(0);
      const entries = json.stdout.toString().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(entries.map((e) => e.name)).to.deep.equal(['a.txt', 'b.bin', 'sub']);
      expect(entries[0]).to.deep.equal({ name: 'a.txt', type: 'file', size: 5, mtime_ms: Date.parse('2001-02-03T04:05:06.000Z'), modified: '2001-02-03T04:05:06.000Z' });
      expect(entries[2]).to.deep.include({ name: 'sub', type: 'directory', size: 0 });
      expect(entries[1]!.size).to.equal(2048);
    });

    it('a server without --allow-download refuses to list, saying why', async () => {
      const server = await serveDir();
      writeFileSync(join(server.dir, 'secret.bin'), 'x');
      const client = connect(server.address, ['--list']);
      expect(await client.exited).to.equal(1);
      expect(client.lines).to.include('error: cannot list: this server serves no downloads, so it lists nothing (start it with --allow-download)');
      expect(client.lines.filter((l) => l.includes('secret.bin'))).to.deep.equal([]);
    });
  });

  describe('part files', () => {
    it('a matching part file is resumed by default, without --resume', async () => {
      const server = await serveDir(['--allow-download']);
      const data = randomBytes(2 * 1024 * 1024);
      writeFileSync(join(server.dir, 'served.bin'), data);
      const out = tempDir('out');
      writeFileSync(join(out, 'served.bin.part'), data.subarray(0, 700_000));
      const client = connect(server.address, ['--get', 'served.bin', '--out', out]);
      expect(await client.exited, client.lines.join('\n')).to.equal(0);
      expect(readFileSync(join(out, 'served.bin')).equals(data)).to.equal(true);
      expect(Number(field(receivedLine(client, 'served.bin'), 'resumed_at'))).to.equal(700_000);
      expect(readdirSync(out)).to.deep.equal(['served.bin']);
    });

    it('a part file that is not the start of the file is emptied with a warning naming it', async () => {
      const server = await serveDir(['--allow-download']);
      const data = randomBytes(1024 * 1024);
      writeFileSync(join(server.dir, 'served.bin'), data);
      const out = tempDir('out');
      writeFileSync(join(out, 'served.bin.part'), randomBytes(300_000));
      const client = connect(server.address, ['--get', 'served.bin', '--out', out]);
      expect(await client.exited, client.lines.join('\n')).to.equal(0);
      expect(client.lines).to.include(`warn: served.bin: ${join(out, 'served.bin.part')} was not the start of the server's file; it was emptied and the download started over`);
      expect(field(receivedLine(client, 'served.bin'), 'resumed_at')).to.equal(undefined);
      expect(readFileSync(join(out, 'served.bin')).equals(data)).to.equal(true);
    });

    it('--no-resume starts over and says which part file it replaces; --resume is still accepted', async () => {
      const server = await serveDir(['--allow-download']);
      const data = randomBytes(1024 * 1024);
      writeFileSync(join(server.dir, 'served.bin'), data);
      const out = tempDir('out');
      const part = join(out, 'served.bin.part');
      writeFileSync(part, data.subarray(0, 400_000));
      const fresh = connect(server.address, ['--get', 'served.bin', '--out', out, '--no-resume']);
      expect(await fresh.exited, fresh.lines.join('\n')).to.equal(0);
      expect(fresh.lines).to.include(`warn: served.bin: starting over (--no-resume): the part file ${part} of an earlier run is replaced`);
      expect(field(receivedLine(fresh, 'served.bin'), 'resumed_at')).to.equal(undefined);
      expect(readFileSync(join(out, 'served.bin')).equals(data)).to.equal(true);

      writeFileSync(part, data.subarray(0, 400_000));
      const again = connect(server.address, ['--get', 'served.bin', '--out', join(out, 'copy.bin'), '--resume']);
      expect(await again.exited, again.lines.join('\n')).to.equal(0);
      expect(statSync(join(out, 'copy.bin')).size).to.equal(data.length);
      const stray = connect(server.address, ['--resume']);
      expect(await stray.exited).to.equal(1);
      expect(stray.lines).to.deep.equal(['bittrrt: --resume, --no-resume and --overwrite need --send or --get (see --help)']);
    });
  });
});
