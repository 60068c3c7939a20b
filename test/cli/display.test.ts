import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { displayWidth } from '../../lib/cli/progress.js';
import { Children, testEnv } from '../helpers/cli.js';
import { ImpairmentProxy } from '../helpers/impair.js';
import { replay, runInPty, type PtyProcess } from '../helpers/pty.js';
import { tempDir } from '../helpers/tmp.js';
import { eventually, PATIENCE } from '../helpers/udp.js';

const MiB = 1024 * 1024;
const COLUMNS = 80;
/** A bar that shows a rate and an ETA. */
const MOVING = /\d+(\.\d)? [kMG]?B\/s \| ETA \d/;

/** Regex-escapes `text`. */
const literal = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** What a person sees of transfers: the progress bar in a terminal, the summaries, the failures, and --json through a pipe. */
describe('bin/bittrrt transfer display', function () {
  this.timeout(60_000 * PATIENCE);
  const children = new Children();
  const proxies: ImpairmentProxy[] = [];
  const ptys: PtyProcess[] = [];
  afterEach(async () => {
    for (const pty of ptys.splice(0)) {
      if (pty.child.exitCode === null && pty.child.signalCode === null) pty.child.kill('SIGKILL');
      await pty.exited;
    }
    await children.cleanup();
    for (const proxy of proxies.splice(0)) await proxy.close();
  });

  async function serveDir(port = 0, dir = join(tempDir('display'), 'inbox')): Promise<Awaited<ReturnType<Children['serve']>> & { dir: string }> {
    if (!existsSync(dir)) mkdirSync(dir);
    return { ...(await children.serve(['--dir', dir], port)), dir };
  }

  /** A proxy that slows the path (each datagram held 2 ms), so an upload is still running when the test acts on it. */
  async function slowPath(serverPort: number): Promise<number> {
    const proxy = await ImpairmentProxy.start(serverPort, { seed: 11, delayMs: 2 });
    proxies.push(proxy);
    return proxy.port;
  }

  function pty(args: string[]): PtyProcess {
    const proc = runInPty(args, COLUMNS, testEnv());
    ptys.push(proc);
    return proc;
  }

  it('a server killed mid-upload: the bar says `stalled` without the old rate and ETA, the failure names the file and the command that resumes it, and that command finishes the job', async () => {
    const server = await serveDir();
    const src = tempDir('src');
    const big = join(src, 'big.bin');
    const small = join(src, 'small.bin');
    const data = randomBytes(48 * MiB);
    writeFileSync(big, data);
    writeFileSync(small, randomBytes(1000));
    const proxy = await ImpairmentProxy.start(server.port, { seed: 11, delayMs: 2 });
    proxies.push(proxy);
    const proxyPort = proxy.port;
    const client = pty(['connect', `127.0.0.1:${proxyPort}`, '--no-pin', '--send', big, '--send', small]);
    const part = join(server.dir, 'big.bin.part');
    expect(await eventually(() => existsSync(part) && statSync(part).size > MiB, 15_000 * PATIENCE), client.output()).to.equal(true);
    // The path goes dead and the server is killed mid-upload, however fast the machine moved the
    // first MiB: nothing more can arrive, so the upload cannot finish first.
    proxy.pause();
    server.proc.child.kill('SIGKILL');
    const killedAt = client.output().length;
    expect(await client.exited, client.output()).to.equal(1);

    const after = replay(client.output().slice(killedAt));
    const stalled = after.frames.filter((f) => f.includes('stalled'));
    expect(stalled, JSON.stringify(after.frames)).to.not.be.empty;
    for (const frame of stalled) expect(frame, 'a stalled bar shows neither the old rate nor an ETA').to.not.match(/B\/s|ETA/);
    expect(after.frames.at(-1), 'the bar was stalled when the failure came').to.include('stalled');
    const { lines } = replay(client.output());
    const command = `bittrrt connect 127.0.0.1:${proxyPort} --no-pin --send ${big} --resume`;
    const failure = lines.filter((l) => l.startsWith('error: big.bin: '));
    expect(failure, lines.join('\n')).to.have.length(1);
    // The session's own silence check (three heartbeat intervals), not the transfer's 30 s stall.
    expect(failure[0], failure[0]).to.match(new RegExp(`^error: big\\.bin: the server has sent nothing for 15 s: it has stopped, or the path to it is down; stopped at [\\d.]+ (B|KiB|MiB) of 48\\.0 MiB \\(\\d+%\\); to resume: ${literal(command)}$`));
    const rest = `bittrrt connect 127.0.0.1:${proxyPort} --no-pin --send ${big} --send ${small} --resume`;
    expect(lines, lines.join('\n')).to.include(`error: the session closed before small.bin could start; to move all that is left: ${rest}`);
    expect(lines.some((l) => l.startsWith('total: 0 of 2 files, 0 B in ')), lines.join('\n')).to.equal(true);

    // The same server comes back, and the path; the suggested command, as printed, finishes both files.
    proxy.resume();
    const back = await serveDir(server.port, server.dir);
    expect(back.port).to.equal(server.port);
    const again = children.run(rest.split(' ').slice(1));
    expect(await again.exited, again.lines.join('\n')).to.equal(0);
    expect(again.lines.find((l) => l.startsWith('sent big.bin ')), again.lines.join('\n')).to.match(/^sent big\.bin \(48\.0 MiB, resumed at [\d.]+ MiB: /);
    expect(readFileSync(join(server.dir, 'big.bin')).equals(data), 'byte-identical').to.equal(true);
    expect(existsSync(join(server.dir, 'small.bin'))).to.equal(true);
  });

  it('a long file name on an 80-column terminal is cut in the middle; the percentage, sizes, rate and ETA stay on the line', async () => {
    const server = await serveDir();
    const src = tempDir('src');
    const name = `${'a-very-long-file-name-'.repeat(9)}end.bin`;
    // A sparse GiB: far more than moves in the second the rate needs to appear, on any machine;
    // the test stops it once the rate is shown, not after a time.
    writeFileSync(join(src, name), '');
    truncateSync(join(src, name), 1024 * MiB);
    const client = pty(['connect', `127.0.0.1:${await slowPath(server.port)}`, '--no-pin', '--send', join(src, name)]);
    await client.waitFor(MOVING, 15_000 * PATIENCE);
    // Ctrl-C, typed on the terminal: the line discipline turns it into SIGINT for bittrrt.
    client.child.stdin!.write('\x03');
    expect(await client.exited, client.output()).to.equal(130);
    const { frames, lines } = replay(client.output());
    expect(frames, client.output()).to.not.be.empty;
    for (const frame of frames) {
      expect(displayWidth(frame), frame).to.be.below(COLUMNS);
      expect(frame).to.match(/^a-very-long-.*….*-end\.bin /);
      expect(frame).to.match(/ \d+% \| +[\d.]+ (B|KiB|MiB)\/1\.0 GiB \| /);
    }
    expect(frames.some((f) => MOVING.test(f)), 'a rate and an ETA were shown').to.equal(true);
    // The bar is gone once stopped, and the line that says so names the whole file, in one system of units.
    expect(lines.find((l) => l.startsWith('warn: interrupted: ')), lines.join('\n'))
      .to.match(new RegExp(`^warn: interrupted: ${literal(name)} is incomplete at [\\d.]+ (KiB|MiB) of 1\\.0 GiB \\(\\d+%\\); to resume: `));
  });

  it('a log line during a transfer (keys rotating) clears the bar first, and the bar comes back', async () => {
    const server = await serveDir();
    const src = tempDir('src');
    // A sparse GiB, stopped with Ctrl-C once the bar is back: far more than any machine moves
    // before the rate shows, so the test waits for what it checks, not for a time.
    writeFileSync(join(src, 'data.bin'), '');
    truncateSync(join(src, 'data.bin'), 1024 * MiB);
    const proxy = await ImpairmentProxy.start(server.port, { seed: 12, delayMs: 2 });
    proxies.push(proxy);
    const client = pty(['connect', `127.0.0.1:${proxy.port}`, '--no-pin', '--rekey-after', '1', '--send', join(src, 'data.bin')]);
    await client.waitFor(MOVING, 15_000 * PATIENCE);
    // A dead link holds the transfer (the bar says `stalled`) while the key rotation falls due; once
    // the link is back, the rotation (asked again every 250 ms) completes before the data does
    // (its retransmission timer has backed off for the outage).
    proxy.pause();
    await client.waitFor(/stalled/, 15_000 * PATIENCE);
    proxy.resume();
    await client.waitFor(/session keys rotated [^\n]*\n[^]*\rdata\.bin \[/, 15_000 * PATIENCE);
    client.child.stdin!.write('\x03');
    expect(await client.exited, client.output()).to.equal(130);
    const cleared = /data\.bin \[[= ]+\] +\d+% [^\r\n]*\x1b\[K\r\x1b\[Ksession keys rotated [^\n]*\n/.exec(client.output());
    expect(cleared, 'the bar was on the line and cleared for the log line').to.not.equal(null);
    expect(client.output().slice(cleared!.index + cleared![0].length), 'and drawn again below it').to.match(/\rdata\.bin \[/);
    const { lines } = replay(client.output());
    const rotations = lines.filter((l) => l.includes('session keys rotated'));
    expect(rotations, lines.join('\n')).to.not.be.empty;
    for (const line of rotations) expect(line, 'no log line runs on behind a bar').to.match(/^session keys rotated /);
  });

  it('--json through a pipe: a name on every transfer line, numbers as numbers, and a total for several files', async () => {
    const server = await serveDir();
    const src = tempDir('src');
    const sizes = { 'tiny.bin': 10, 'mid.bin': 300_000 };
    for (const [name, size] of Object.entries(sizes)) writeFileSync(join(src, name), randomBytes(size));
    const client = children.run(['connect', server.address, '--no-pin', '--json', ...Object.keys(sizes).flatMap((n) => ['--send', join(src, n)])]);
    expect(await client.exited, client.lines.join('\n')).to.equal(0);
    const entries = client.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(client.lines.join('\n'), 'no bar on a pipe').to.not.match(/\r|\x1b/);
    for (const [name, size] of Object.entries(sizes)) {
      const sent = entries.filter((e) => e.name === name);
      expect(sent, client.lines.join('\n')).to.have.length(1);
      expect(sent[0]).to.include({ bytes: size });
      expect(sent[0]!.seconds).to.be.a('number').above(0);
      expect(sent[0]!.bytes_per_second).to.be.a('number').above(0);
      expect(sent[0]!.retransmitted_pct).to.be.a('number');
      // The tiny file's rate is written in a unit that fits it, never `0.0 MB/s`.
      expect(sent[0]!.msg).to.match(new RegExp(`^sent ${literal(name)} \\(.* [1-9][\\d.]* [kMG]?B/s\\)$`));
    }
    const total = entries.filter((e) => typeof e.msg === 'string' && e.msg.startsWith('total: '));
    expect(total, client.lines.join('\n')).to.have.length(1);
    expect(total[0]).to.include({ files: 2, failed: 0, bytes: 300_010 });
    expect(total[0]!.seconds).to.be.a('number').above(0);
    expect(total[0]!.bytes_per_second).to.be.a('number').above(0);
    expect(total[0]!.msg).to.match(/^total: 2 files, 293\.0 KiB in [\d.]+ s, [\d.]+ [kMG]?B\/s$/);
    const [received] = await server.proc.waitForLine(/^received mid\.bin \(/, 15_000);
    expect(received).to.not.match(/ name=/);
  });

  it('a failure on a terminal names the file even when the peer refused it', async () => {
    const server = await children.serve();
    const src = tempDir('src');
    writeFileSync(join(src, 'refused.bin'), randomBytes(100));
    const client = pty(['connect', server.address, '--no-pin', '--send', join(src, 'refused.bin')]);
    expect(await client.exited).to.equal(1);
    const { lines } = replay(client.output());
    const failure = lines.find((l) => l.startsWith('error: '));
    expect(failure, lines.join('\n')).to.include('refused.bin');
    expect(failure, 'a refusal is not offered a resume').to.not.include('--resume');
  });
});
