import { expect } from 'chai';
import { bufferBytes, DEFAULT_ROWS, parseRow, parseWanArgs, QUICK_ROWS, QUICK_SECONDS } from '../../benchmarks/wan/args.js';
import {
  emulatorProblems, parseBittrrtBandwidth, parseBittrrtSend, parseEmulatorCounters, parseIperf3, parsePingTimes, parseUdxReport, udxFlow,
} from '../../benchmarks/wan/parse.js';

/** The fields the bench reads from `iperf3 -c ... --json` (3.12), values from a run over the emulator. */
const iperf3Json = (over: Record<string, unknown> = {}): string => JSON.stringify({
  start: { tcp_mss_default: 1448, version: 'iperf 3.12' },
  end: {
    streams: [{ sender: { bytes: 57_921_448, retransmits: 323, mean_rtt: 85_700, max_rtt: 101_000 } }],
    sum_sent: { seconds: 5, bytes: 57_921_448, bits_per_second: 92_674_316, retransmits: 320, sender: true },
    sum_received: { seconds: 5.09, bytes: 54_917_120, bits_per_second: 86_314_331, sender: true },
    sender_tcp_congestion: 'cubic',
    receiver_tcp_congestion: 'cubic',
  },
  ...over,
});

const logLine = (fields: Record<string, unknown>): string => JSON.stringify({ time: '2026-11-29T16:00:00.000Z', level: 'info', ...fields });

describe('WAN bench: command line', () => {
  it('reads RATExRTT@LOSS[/BUF] rows and refuses what the emulator cannot do', () => {
    expect(parseRow('100x50@1')).to.deep.equal({ rateMbit: 100, rttMs: 50, lossPercent: 1, bufferBdp: 1 });
    expect(parseRow(' 20x150@0.1/0.5 ')).to.deep.equal({ rateMbit: 20, rttMs: 150, lossPercent: 0.1, bufferBdp: 0.5 });
    for (const bad of ['', '100x50', '100x50@', '100x50@100', 'x50@1', '100x50@1/0', '100x50@1/17', '-1x50@0', '1e3x50@0', '100x50@1/']) {
      expect(parseRow(bad), bad).to.equal(null);
    }
  });

  it('sizes the drop-tail buffer in BDPs, never below one packet', () => {
    expect(bufferBytes({ rateMbit: 100, rttMs: 50, lossPercent: 0, bufferBdp: 1 })).to.equal(625_000);
    expect(bufferBytes({ rateMbit: 100, rttMs: 50, lossPercent: 0, bufferBdp: 0.5 })).to.equal(312_500);
    expect(bufferBytes({ rateMbit: 1, rttMs: 0, lossPercent: 0, bufferBdp: 1 })).to.equal(1500);
  });

  it('defaults to the issue grid; --quick takes fewer rows and seconds', () => {
    const full = parseWanArgs([]);
    expect(full.kind).to.equal('run');
    if (full.kind !== 'run') return;
    expect(full.options.rows).to.equal(DEFAULT_ROWS);
    expect(full.options.rows.map((r) => `${r.rateMbit}x${r.rttMs}@${r.lossPercent}`))
      .to.deep.equal(['100x50@0', '100x50@0.1', '100x50@1', '100x50@3', '20x150@0', '200x10@0']);
    expect(full.options.scenarios).to.deep.equal(['coexist', 'fairness', 'latency', 'tree']);
    expect(full.options.repeat).to.equal(1);
    const quick = parseWanArgs(['--quick']);
    if (quick.kind !== 'run') throw new Error(quick.kind);
    expect(quick.options.rows).to.equal(QUICK_ROWS);
    expect(quick.options.rows.length).to.be.lessThan(DEFAULT_ROWS.length);
    expect(quick.options.seconds).to.equal(QUICK_SECONDS);
  });

  it('takes --rows (repeatable or a comma list), --only, --scenarios none, --seconds, --json, --write-chart', () => {
    const parsed = parseWanArgs(['--rows', '100x50@0,100x50@3', '--rows', '20x150@0', '--only', 'bbr,bittrrt', '--scenarios', 'none',
      '--seconds', '12', '--json', '/tmp/x.json', '--write-chart', '--seed', '7', '--repeat', '3']);
    if (parsed.kind !== 'run') throw new Error(parsed.kind === 'error' ? parsed.message : parsed.kind);
    const o = parsed.options;
    expect(o.rows.map((r) => r.lossPercent)).to.deep.equal([0, 3, 0]);
    // In the bench's order, not the command line's.
    expect(o.protocols).to.deep.equal(['bbr', 'bittrrt']);
    expect(o.scenarios).to.deep.equal([]);
    expect([o.seconds, o.jsonPath, o.writeChart, o.seed, o.repeat]).to.deep.equal([12, '/tmp/x.json', true, 7, 3]);
  });

  it('reports bad arguments as errors and never throws', () => {
    for (const argv of [['--seconds', '1'], ['--seconds', '61'], ['--seconds', 'x'], ['--rows', 'fast'], ['--only', 'quic'],
      ['--scenarios', 'bogus'], ['--seed', '-1'], ['--repeat', '0'], ['--repeat', '6'], ['--repeat', '1.5'], ['--repeat', 'x'],
      ['--frobnicate'], ['positional']]) {
      const parsed = parseWanArgs(argv);
      expect(parsed.kind, argv.join(' ')).to.equal('error');
    }
    expect(parseWanArgs(['-h']).kind).to.equal('help');
  });
});

describe('WAN bench: reading the programs\' output', () => {
  it('reads goodput at the receiver, retransmitted segments and mean RTT from iperf3 JSON', () => {
    const parsed = parseIperf3(iperf3Json(), 'cubic');
    if (!parsed.ok) throw new Error(parsed.error);
    expect(parsed.value.goodputMbit).to.be.closeTo(86.314, 1e-3);
    // 320 of ceil(57,921,448 / 1448) = 40,001 segments.
    expect(parsed.value.retransmitPercent).to.be.closeTo((100 * 320) / 40_001, 1e-9);
    expect(parsed.value.rttMs).to.be.closeTo(85.7, 1e-9);
  });

  it('fails an iperf3 run that reported an error, ran another algorithm, or printed no JSON', () => {
    const busy = parseIperf3(JSON.stringify({ start: {}, end: {}, error: 'the server is busy running a test. try again later' }));
    expect(busy).to.deep.equal({ ok: false, error: 'iperf3: the server is busy running a test. try again later' });
    expect(parseIperf3(iperf3Json(), 'bbr')).to.deep.equal({ ok: false, error: 'iperf3 ran cubic, not bbr' });
    for (const text of ['', 'iperf3: error - unable to connect', '[]', '{"end":{"sum_sent":{}}}', '{"end":{"sum_sent":{},"sum_received":{"bits_per_second":"9"}}}']) {
      expect(parseIperf3(text).ok, text).to.equal(false);
    }
  });

  it('reads the bandwidth line of bittrrt connect --bwup --json, and its error when there is none', () => {
    const text = [
      logLine({ msg: 'bandwidth test: sending to the server for 20 s' }),
      logLine({ msg: '[  1s] 5.6 MB/s', second: 1, bytes: 5_600_000 }),
      'not json at all',
      logLine({ msg: 'bandwidth up: 120 MB in 20.01 s, 6.0 MB/s', bytes: 120_000_000, seconds: 20.01, mbit_s: 48, loss_pct: 1.5, rtt_ms: 61.2 }),
    ].join('\n');
    expect(parseBittrrtBandwidth(text)).to.deep.equal({ ok: true, value: { goodputMbit: 48, retransmitPercent: 1.5, rttMs: 61.2 } });
    const refused = logLine({ level: 'error', msg: 'bandwidth test (up): refused: too many tests' });
    expect(parseBittrrtBandwidth(refused)).to.deep.equal({ ok: false, error: 'bittrrt: bandwidth test (up): refused: too many tests' });
    expect(parseBittrrtBandwidth('').ok).to.equal(false);
  });

  it('reads the sent line of --send, and the heartbeat times of --ping', () => {
    const sent = logLine({ msg: 'sent wan.bin', size: '64.0 MiB', bytes: 67_108_864, seconds: 6.1, rate: '11 MB/s', retransmitted_pct: 1.02 });
    expect(parseBittrrtSend(sent)).to.deep.equal({ ok: true, value: { bytes: 67_108_864, retransmitPercent: 1.02 } });
    expect(parseBittrrtSend(logLine({ msg: 'sent x', bytes: 0 })).ok).to.equal(false);
    const pings = [
      logLine({ msg: 'heartbeat reply', seq: 1, time_ms: '50.512' }),
      logLine({ level: 'warn', msg: 'heartbeat timed out', seq: 2 }),
      logLine({ msg: 'heartbeat reply', seq: 3, time_ms: '61.000' }),
      logLine({ msg: 'heartbeat reply', seq: 4, time_ms: 'NaN' }),
      logLine({ msg: 'ping summary', min_ms: '50.512' }),
    ].join('\n');
    expect(parsePingTimes(pings)).to.deep.equal([50.512, 61]);
  });

  it('turns the udx peers\' reports into goodput at the receiver and the sender\'s retransmitted share', () => {
    const receiver = parseUdxReport('listening\n{"role":"receiver","bytes":100000000,"seconds":10,"endedBy":"end"}\n');
    const sender = parseUdxReport('{"role":"sender","bytes":100000000,"seconds":10,"packets":80000,"retransmits":800,"rttMs":55}');
    if (!receiver.ok || !sender.ok) throw new Error('unparsed');
    expect(udxFlow(receiver.value, sender.value)).to.deep.equal({ ok: true, value: { goodputMbit: 80, retransmitPercent: 1, rttMs: 55 } });
    expect(udxFlow(receiver.value, null)).to.deep.equal({ ok: true, value: { goodputMbit: 80, retransmitPercent: null, rttMs: null } });
    expect(udxFlow({ role: 'receiver', bytes: 0, seconds: 0 }, null).ok).to.equal(false);
    expect(parseUdxReport('{"role":"receiver","bytes":-1,"seconds":1}').ok).to.equal(false);
  });

  it('reads the emulator\'s counters and calls its own drops and failed writes problems', () => {
    const line = (direction: string, extra: Record<string, unknown> = {}): string => JSON.stringify({
      direction, received: 100, forwarded: 90, forwarded_bytes: 120_000, dropped_queue: 6, dropped_loss: 4, dropped_ring: 0,
      dropped_length: 0, dropped_down: 1, write_errors: 0, first_write_error: '', max_queue_bytes: 62_000, ...extra,
    });
    const clean = parseEmulatorCounters(`ready wan0 slots=8192/8192\n${line('a_to_b')}\n${line('b_to_a')}\n`);
    expect(clean?.aToB.droppedQueue).to.equal(6);
    expect(clean?.bToA.maxQueueBytes).to.equal(62_000);
    // A packet to a device not yet up is lost as on a real link that is down: counted, no problem.
    expect(clean?.aToB.droppedDown).to.equal(1);
    expect(clean === null ? null : emulatorProblems(clean)).to.deep.equal([]);
    const bad = parseEmulatorCounters(`${line('a_to_b', { dropped_ring: 3 })}\n${line('b_to_a', { write_errors: 2, first_write_error: 'EIO' })}`);
    expect(bad === null ? null : emulatorProblems(bad)).to.deep.equal([
      'a_to_b: 3 packets dropped for want of ring slots', 'b_to_a: 2 failed writes (first: EIO)',
    ]);
    // A killed emulator prints half its counters, or none: no numbers rather than zeros.
    expect(parseEmulatorCounters(line('a_to_b'))).to.equal(null);
    expect(parseEmulatorCounters(`${line('a_to_b')}\n${line('b_to_a', { forwarded: 'many' })}`)).to.equal(null);
  });
});
