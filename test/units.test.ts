import { expect } from 'chai';
import { formatBitRate, formatBytes, formatDuration, formatEta, formatRate } from '../lib/units.js';

describe('units: one system for sizes, rates and times', () => {
  it('sizes are binary, one decimal from KiB on, and never show 1024 of a unit', () => {
    expect(formatBytes(0)).to.equal('0 B');
    expect(formatBytes(1)).to.equal('1 B');
    expect(formatBytes(1023)).to.equal('1023 B');
    expect(formatBytes(1024)).to.equal('1.0 KiB');
    expect(formatBytes(1536)).to.equal('1.5 KiB');
    expect(formatBytes(91_123_712)).to.equal('86.9 MiB');
    expect(formatBytes(1024 * 1024 - 1)).to.equal('1.0 MiB');
    expect(formatBytes(3 * 1024 ** 3)).to.equal('3.0 GiB');
  });

  it('rates are decimal and scaled: a tiny transfer does not say 0.0 MB/s', () => {
    expect(formatRate(0)).to.equal('0 B/s');
    expect(formatRate(300 / 0.01)).to.equal('30.0 kB/s');
    expect(formatRate(850)).to.equal('850 B/s');
    expect(formatRate(999.6)).to.equal('1000 B/s');
    expect(formatRate(1000)).to.equal('1.0 kB/s');
    expect(formatRate(30_300_000)).to.equal('30.3 MB/s');
    expect(formatRate(999_960)).to.equal('1.0 MB/s');
    expect(formatRate(1.25e9)).to.equal('1.3 GB/s');
    expect(formatRate(Number.NaN)).to.equal('? B/s');
  });

  it('bit rates (bandwidth tests) are the byte rate times eight, decimal and scaled', () => {
    expect(formatBitRate(0)).to.equal('0 bit/s');
    expect(formatBitRate(100)).to.equal('800 bit/s');
    expect(formatBitRate(12_500_000)).to.equal('100.0 Mbit/s');
    expect(formatBitRate(11_775_000)).to.equal('94.2 Mbit/s');
    expect(formatBitRate(125_000_000)).to.equal('1.0 Gbit/s');
    expect(formatBitRate(-1)).to.equal('? bit/s');
  });

  it('durations keep three significant digits, then minutes and hours', () => {
    expect(formatDuration(0.0042)).to.equal('0.004 s');
    expect(formatDuration(3.0149)).to.equal('3.01 s');
    expect(formatDuration(42.46)).to.equal('42.5 s');
    expect(formatDuration(125)).to.equal('2 min 05 s');
    expect(formatDuration(3720)).to.equal('1 h 02 min');
  });

  it('an ETA is whole seconds, rounded up, then minutes and hours', () => {
    expect(formatEta(0)).to.equal('0s');
    expect(formatEta(1.2)).to.equal('2s');
    expect(formatEta(59)).to.equal('59s');
    expect(formatEta(125)).to.equal('2m05s');
    expect(formatEta(3 * 3600 + 7 * 60)).to.equal('3h07m');
    expect(formatEta(-3)).to.equal('0s');
  });
});
