import { expect } from 'chai';
import { Writable } from 'node:stream';
import {
  clearingLogger, displayWidth, MIN_RATE_SPAN_MS, progressLine, RateSmoother, REDRAW_MS, STALLED_AFTER_MS, StatusLine, TransferProgress, truncateMiddle,
  type ProgressState,
} from '../../lib/cli/progress.js';
import { createLogger } from '../../lib/log.js';
import { SilenceCheck } from '../../lib/transfer/peer-silence.js';
import { resumeCommand, shellQuote } from '../../lib/cli/resume-hint.js';

const MB = 1e6;

/** The ETA in seconds a display would show at each redraw of a flow whose bytes per redraw are `chunks`. */
function etas(chunks: readonly number[], size: number): number[] {
  const smoother = new RateSmoother();
  let done = 0;
  const out: number[] = [];
  smoother.sample(0, 0);
  chunks.forEach((chunk, i) => {
    done += chunk;
    smoother.sample(done, (i + 1) * REDRAW_MS);
    const rate = smoother.bytesPerSecond;
    if (rate !== undefined) out.push((size - done) / rate);
  });
  return out;
}

describe('progress display', () => {
  describe('RateSmoother (virtual time)', () => {
    it('a steady flow reads as its rate', () => {
      const smoother = new RateSmoother();
      for (let t = 0; t <= 10_000; t += REDRAW_MS) smoother.sample((t / 1000) * 5 * MB, t);
      expect(smoother.bytesPerSecond).to.be.closeTo(5 * MB, 1);
    });

    it('says nothing until its samples span MIN_RATE_SPAN_MS, then the plain average (no pull towards zero at the start)', () => {
      const smoother = new RateSmoother();
      smoother.sample(0, 0);
      smoother.sample(MB, MIN_RATE_SPAN_MS / 2);
      expect(smoother.bytesPerSecond).to.equal(undefined);
      smoother.sample(2 * MB, MIN_RATE_SPAN_MS);
      expect(smoother.bytesPerSecond).to.be.closeTo((2 * MB * 1000) / MIN_RATE_SPAN_MS, 1);
    });

    it('a bursty flow (a second of bytes in one redraw, then nothing) gives an ETA that moves steadily', () => {
      // 2 MB/s on average, as 2 MB in one redraw of every five: the raw rate swings between 0 and 5 times that.
      const chunks = Array.from({ length: 150 }, (_, i) => (i % 5 === 0 ? 2 * MB : 0));
      const smoothed = etas(chunks, 100 * MB);
      // From one redraw to the next the ETA moves by a few percent; the raw one goes from 10 s to infinity.
      const steps = smoothed.slice(1).map((eta, i) => Math.abs(eta - smoothed[i]!) / smoothed[i]!);
      expect(Math.max(...steps)).to.be.below(0.12);
      // And it converges on the truth: 100 MB less the 60 MB sent, at 2 MB/s, is 20 s.
      expect(smoothed.at(-1)).to.be.closeTo(20, 2);
    });

    it('follows a lasting change of speed within a few time constants', () => {
      const smoother = new RateSmoother();
      let done = 0;
      for (let t = 0; t <= 40_000; t += REDRAW_MS) {
        smoother.sample(done, t);
        done += (t < 15_000 ? 10 * MB : MB) * (REDRAW_MS / 1000);
      }
      expect(smoother.bytesPerSecond).to.be.closeTo(MB, 0.05 * MB);
    });
  });

  describe('TransferProgress (virtual time)', () => {
    it('is stalled once nothing moved for STALLED_AFTER_MS, and moving again ends it', () => {
      const progress = new TransferProgress('a.bin');
      progress.start(0, 100 * MB, 0);
      progress.update(10 * MB, 1000);
      expect(progress.state(2000).stalled).to.equal(false);
      expect(progress.state(1000 + STALLED_AFTER_MS - 1).stalled).to.equal(false);
      expect(progress.state(1000 + STALLED_AFTER_MS).stalled).to.equal(true);
      progress.update(11 * MB, 9000);
      expect(progress.state(9100).stalled).to.equal(false);
    });

    it('counts from a resumed offset and says how far it got', () => {
      const progress = new TransferProgress('a.bin');
      expect(progress.started).to.equal(false);
      progress.start(50 * 1024 * 1024, 100 * 1024 * 1024, 0);
      progress.update(79.5 * 1024 * 1024, 500);
      expect(progress.started).to.equal(true);
      expect(progress.describe()).to.equal('79.5 MiB of 100.0 MiB (79%)');
    });
  });

  describe('progressLine', () => {
    const moving: ProgressState = { name: 'big.iso', done: 79 * 1024 * 1024, size: 100 * 1024 * 1024, rate: 23.8 * MB, stalled: false };

    it('shows percentage, sizes in binary units, rate in decimal units and the ETA', () => {
      const line = progressLine(moving, 80);
      expect(line).to.match(/^big\.iso \[=+ +\]  79% \| {3}79\.0 MiB\/100\.0 MiB \|  23\.8 MB\/s \| ETA 1s/);
      expect(displayWidth(line)).to.be.at.most(79);
    });

    it('a stalled transfer shows `stalled` and neither the old rate nor an ETA', () => {
      const line = progressLine({ ...moving, stalled: true }, 80);
      expect(line).to.match(/ 79% \| {3}79\.0 MiB\/100\.0 MiB \| stalled +$/);
      expect(line).to.not.match(/MB\/s|ETA/);
      expect(displayWidth(line), 'the bar keeps its length').to.equal(displayWidth(progressLine(moving, 80)));
    });

    it('keeps its length as the numbers change, so the bar does not jump', () => {
      const widths = [0, 1, 512 * 1024, 5 * 1024 * 1024, 100 * 1024 * 1024].map((done) => displayWidth(progressLine({ ...moving, done, rate: done === 0 ? 900 : 23.8 * MB }, 80)));
      expect(new Set(widths).size, String(widths)).to.equal(1);
    });

    it('cuts a long name in the middle to fit 80 columns, keeping its start, its extension and every number', () => {
      const name = `${'holiday-photos-'.repeat(12)}final.tar.gz`;
      const line = progressLine({ ...moving, name }, 80);
      expect(displayWidth(line)).to.be.at.most(79);
      expect(line).to.match(/^holiday-phot.*….*final\.tar\.gz /);
      expect(line).to.include(' 79% ').and.include('23.8 MB/s').and.include('ETA 1s');
    });

    it('counts wide characters as two columns', () => {
      const name = '写真'.repeat(40);
      const line = progressLine({ ...moving, name: `${name}.zip` }, 80);
      expect(displayWidth(line)).to.be.at.most(79).and.above(70);
      expect(line).to.include('…').and.include('.zip').and.include('23.8 MB/s');
    });

    it('drops the bar before the name gets too short, and fits even a narrow terminal', () => {
      const line = progressLine({ ...moving, name: 'a-rather-long-name-of-a-file.iso' }, 60);
      expect(line).to.not.include('[');
      expect(displayWidth(line)).to.be.at.most(59);
      expect(line).to.include('23.8 MB/s');
      expect(displayWidth(progressLine(moving, 20))).to.be.at.most(19);
    });

    it('shows control characters in a name as `?`', () => {
      expect(progressLine({ ...moving, name: 'a\u001b[2Jb' }, 80)).to.match(/^a\?\[2Jb /);
    });

    it('shows `--` until the rate is known, and an empty file as complete', () => {
      expect(progressLine({ ...moving, rate: undefined }, 80)).to.match(/\| +-- \| ETA --/);
      expect(progressLine({ name: 'e', done: 0, size: 0, rate: undefined, stalled: false }, 80)).to.match(/^e \[=+\] 100% /);
    });
  });

  describe('truncateMiddle', () => {
    it('leaves what fits and cuts the rest to exactly the width', () => {
      expect(truncateMiddle('abcdef', 6)).to.equal('abcdef');
      expect(truncateMiddle('abcdefgh', 5)).to.equal('ab…gh');
      expect(truncateMiddle('abcdefgh', 1)).to.equal('…');
      expect(truncateMiddle('abcdefgh', 0)).to.equal('');
    });
  });
});

describe('StatusLine and clearingLogger', () => {
  it('a log line clears a drawn bar first, so it starts at the first column; nothing is cleared that was not drawn', () => {
    let screen = '';
    const terminal = new Writable({
      write(chunk: Buffer, _encoding, done) {
        screen += chunk.toString();
        done();
      },
    });
    const line = new StatusLine(Object.assign(terminal, { columns: 80 }) as unknown as NodeJS.WriteStream);
    const log = clearingLogger(createLogger({ out: terminal, errorOut: terminal }), line);
    log.info('before');
    line.draw('a.bin [==  ] 50%');
    log.warn('session keys rotated');
    log.info('after');
    expect(screen).to.equal('before\n\ra.bin [==  ] 50%\x1b[K\r\x1b[Kwarn: session keys rotated\nafter\n');
    expect(line.columns).to.equal(80);
  });
});

describe('SilenceCheck (virtual time)', () => {
  it('is silent once nothing was heard for longer than the bound', () => {
    let heard = 0;
    const check = new SilenceCheck(15_000, () => heard);
    for (let t = 1000; t <= 15_000; t += 1000) expect(check.silent(t), `at ${t}`).to.equal(false);
    expect(check.silent(16_000)).to.equal(true);
    heard = 16_500;
    expect(check.silent(17_000)).to.equal(false);
  });

  it('a late check (this process was held up) only takes note; the next one decides', () => {
    const check = new SilenceCheck(15_000, () => 0);
    expect(check.silent(1000)).to.equal(false);
    expect(check.silent(40_000), 'datagrams may be waiting unread').to.equal(false);
    expect(check.silent(41_000)).to.equal(true);
  });
});

describe('resumeCommand', () => {
  it('keeps the run\'s own options, drops its transfers and names the unfinished ones with --resume', () => {
    const argv = ['connect', 'host:7000', '--no-pin', '--send', 'a.bin', '--send=b.bin', '--bwup', '3', '--key-file', 'k', '--resume'];
    expect(resumeCommand(argv, { send: ['b.bin'], get: [] })).to.equal('bittrrt connect host:7000 --no-pin --key-file k --send b.bin --resume');
  });

  it('carries --as for a single file and --out for downloads', () => {
    expect(resumeCommand(['connect', 'h', '--send', 'x', '--as', 'y'], { send: ['x'], as: 'y', get: [] })).to.equal('bittrrt connect h --send x --as y --resume');
    expect(resumeCommand(['connect', 'h', '--get', 'a', '--get', 'b', '--out', 'd'], { send: [], get: ['a', 'b'], out: 'd' }))
      .to.equal('bittrrt connect h --get a --get b --out d --resume');
  });

  it('does not offer --resume for a download to standard output, which can only start over', () => {
    expect(resumeCommand(['connect', 'h', '--get', 'a', '--out', '-'], { send: [], get: ['a'], out: '-' })).to.equal('bittrrt connect h --get a --out -');
  });

  it('quotes what a shell would split or expand', () => {
    expect(shellQuote('plain/path-1.iso')).to.equal('plain/path-1.iso');
    expect(shellQuote("it's here.iso")).to.equal(`'it'\\''s here.iso'`);
    expect(shellQuote('$HOME')).to.equal(`'$HOME'`);
    expect(shellQuote('~/x')).to.equal(`'~/x'`);
    expect(resumeCommand(['connect'], { send: ['my file'], get: [] })).to.equal(`bittrrt connect --send 'my file' --resume`);
  });
});
