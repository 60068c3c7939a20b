/**
 * One measurement each: the programs the WAN bench compares, run across the emulated path from
 * namespace a (senders) to namespace b (servers). The servers (iperf3, bittrrt serve) run for the
 * whole bench; each measurement starts its client(s) and reads what they print.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Protocol } from './args.js';
import { ADDRESS_A, ADDRESS_B, BITTRRT_BIN, ENDPOINT_ENV, UDX_PEER, type Lab, type Proc } from './lab.js';
import { parseBittrrtBandwidth, parseBittrrtSend, parseIperf3, parsePingTimes, parseUdxReport, udxFlow, type FlowResult, type Parsed } from './parse.js';
import { median } from '../verdict.js';

const IPERF3_PORT = 5201;
const BITTRRT_PORT = 6711;
const UDX_RECEIVER_PORT = 9701;
const UDX_SENDER_PORT = 9702;
/** Beyond a run's own seconds: process start, handshake, slow start's end and the final report. */
const RUN_SLACK_S = 30;
/** A 64 MiB --send that takes longer is stopped: its rate is then at most 64 MiB over this. */
export const SEND_LIMIT_S = 60;
export const SEND_BYTES = 64 * 2 ** 20;
/** The tree scenario: this many files of TREE_FILE_BYTES, sent with one `--send DIR`. */
export const TREE_FILES = 200;
export const TREE_FILE_BYTES = 4096;
/** The server refuses more, and longer, bandwidth tests than its defaults allow (4 at once, 1 per host, 60 s). */
const BANDWIDTH_TESTS = '4,4,60';
/** Unloaded ping: enough round trips for a stable median, quickly. */
const BASE_PINGS = 20;
const PING_INTERVAL_MS = 200;
/** The loaded pings start this long after the --bwup has begun: past slow start on the paths of the grid. */
const LOAD_SETTLE_MS = 3_000;

/** What one measurement gives before the emulator's counters are added. */
export interface Measured {
  readonly flow: FlowResult | null;
  readonly error: string | null;
  readonly note: string | null;
}

const fromParsed = (p: Parsed<FlowResult>, note: string | null = null): Measured =>
  (p.ok ? { flow: p.value, error: null, note } : { flow: null, error: p.error, note });

/** The servers in namespace b and what their clients need: the network key and a HOME of the bench's own. */
export class Servers {
  private constructor(
    readonly lab: Lab,
    readonly env: NodeJS.ProcessEnv,
    readonly keyFile: string,
    readonly inbox: string,
    readonly bittrrt: Proc,
  ) {}

  static async start(lab: Lab): Promise<Servers> {
    const home = join(lab.dir, 'home');
    const inbox = join(lab.dir, 'inbox');
    mkdirSync(home);
    mkdirSync(inbox);
    // The bench's own HOME: the server identity and whatever the client keeps never touch the user's.
    const env = { ...ENDPOINT_ENV, HOME: home };
    const keyFile = join(home, 'network.key');
    execFileSync(process.execPath, [BITTRRT_BIN, 'keygen', '--out', keyFile], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const bittrrt = lab.spawn('b', 'bittrrt serve', process.execPath, [
      BITTRRT_BIN, 'serve', '--bind', '0.0.0.0', '--port', String(BITTRRT_PORT), '--key-file', keyFile, '--dir', inbox,
      '--bandwidth-tests', BANDWIDTH_TESTS, '--json',
    ], env);
    await bittrrt.waitFor(/listening on /, 15_000);
    return new Servers(lab, env, keyFile, inbox, bittrrt);
  }

  /** `bittrrt connect` from namespace a, JSON logs, no identity pinning (the server's identity is the bench's throwaway one). */
  connect(label: string, args: readonly string[]): Proc {
    return this.lab.spawn('a', label, process.execPath, [
      BITTRRT_BIN, 'connect', `${ADDRESS_B}:${BITTRRT_PORT}`, '--key-file', this.keyFile, '--no-pin', '--json', ...args,
    ], this.env);
  }

  /**
   * One iperf3 test against a server of its own (-1: one test, then it exits): a long-running
   * server refuses a new test for a moment after each one ("the server is busy").
   */
  async iperf3Run(congestion: 'cubic' | 'bbr', seconds: number): Promise<Measured> {
    // --forceflush: its stdout is a pipe, and the 'listening' line must not wait in a buffer.
    const server = this.lab.spawn('b', 'iperf3 -s', 'iperf3', ['-s', '-1', '-p', String(IPERF3_PORT), '--forceflush']);
    try {
      await server.waitFor(/Server listening/, 10_000);
    } catch (err) {
      return { flow: null, error: (err as Error).message, note: null };
    }
    const client = this.lab.spawn('a', `iperf3 -C ${congestion}`, 'iperf3', [
      '-c', ADDRESS_B, '-p', String(IPERF3_PORT), '-t', String(seconds), '-C', congestion, '--json',
    ]);
    const { timedOut } = await client.finish((seconds + RUN_SLACK_S) * 1000);
    await server.stop();
    if (timedOut) return { flow: null, error: `iperf3 did not finish within ${seconds + RUN_SLACK_S} s`, note: null };
    return fromParsed(parseIperf3(client.stdout, congestion));
  }

  async bandwidthUp(seconds: number, label = 'bittrrt --bwup'): Promise<Measured> {
    const client = this.connect(label, ['--bwup', String(seconds)]);
    const { timedOut } = await client.finish((seconds + RUN_SLACK_S) * 1000);
    if (timedOut) return { flow: null, error: `--bwup did not finish within ${seconds + RUN_SLACK_S} s`, note: null };
    return fromParsed(parseBittrrtBandwidth(client.stdout));
  }

  /** Uploads `file` (SEND_BYTES), timed from the client's process start to its exit, as a user would time it. */
  async sendFile(file: string): Promise<Measured> {
    const started = performance.now();
    const client = this.connect('bittrrt --send', ['--send', file, '--as', 'wan.bin', '--overwrite']);
    const { code, timedOut } = await client.finish(SEND_LIMIT_S * 1000);
    const seconds = (performance.now() - started) / 1000;
    rmSync(join(this.inbox, 'wan.bin'), { force: true });
    rmSync(join(this.inbox, 'wan.bin.part'), { force: true });
    const mbit = (SEND_BYTES * 8) / seconds / 1e6;
    if (timedOut) {
      return { flow: { goodputMbit: mbit, retransmitPercent: null, rttMs: null }, error: null, note: `stopped after ${SEND_LIMIT_S} s: the rate is an upper bound` };
    }
    const sent = parseBittrrtSend(client.stdout);
    if (!sent.ok || code !== 0) return { flow: null, error: sent.ok ? `connect exited ${code}` : sent.error, note: null };
    if (sent.value.bytes !== SEND_BYTES) return { flow: null, error: `sent ${sent.value.bytes} B, not ${SEND_BYTES}`, note: null };
    return { flow: { goodputMbit: mbit, retransmitPercent: sent.value.retransmitPercent, rttMs: null }, error: null, note: `${seconds.toFixed(1)} s from process start` };
  }

  /**
   * Uploads the directory `dir` (TREE_FILES files of TREE_FILE_BYTES) with one `--send DIR`, timed
   * from the client's process start to its exit: seconds, or why it failed.
   */
  async sendTree(dir: string): Promise<number | string> {
    const started = performance.now();
    const client = this.connect('bittrrt --send DIR', ['--send', dir, '--overwrite']);
    const { code, timedOut } = await client.finish(SEND_LIMIT_S * 1000);
    const seconds = (performance.now() - started) / 1000;
    rmSync(join(this.inbox, basename(dir)), { recursive: true, force: true });
    if (timedOut) return `not done in ${SEND_LIMIT_S} s`;
    const sent = parseBittrrtSend(client.stdout);
    if (!sent.ok || code !== 0) return sent.ok ? `connect exited ${code}` : sent.error;
    if (sent.value.bytes !== TREE_FILES * TREE_FILE_BYTES) return `sent ${sent.value.bytes} B, not ${TREE_FILES * TREE_FILE_BYTES}`;
    return seconds;
  }

  async udxRun(seconds: number): Promise<Measured> {
    const receiver = this.lab.spawn('b', 'udx receiver', process.execPath, [
      UDX_PEER, 'receive', '--bind', ADDRESS_B, '--port', String(UDX_RECEIVER_PORT), '--peer', `${ADDRESS_A}:${UDX_SENDER_PORT}`,
      '--limit', String(seconds + RUN_SLACK_S),
    ]);
    try {
      await receiver.waitFor(/^listening$/m, 10_000);
    } catch (err) {
      return { flow: null, error: (err as Error).message, note: null };
    }
    const sender = this.lab.spawn('a', 'udx sender', process.execPath, [
      UDX_PEER, 'send', '--bind', ADDRESS_A, '--port', String(UDX_SENDER_PORT), '--peer', `${ADDRESS_B}:${UDX_RECEIVER_PORT}`, '--seconds', String(seconds),
    ]);
    await Promise.all([sender.finish((seconds + RUN_SLACK_S) * 1000), receiver.finish((seconds + RUN_SLACK_S + 5) * 1000)]);
    const got = parseUdxReport(receiver.stdout);
    if (!got.ok) return { flow: null, error: `${got.error}: ${receiver.stderr.trim().slice(-200)}`, note: null };
    const sent = parseUdxReport(sender.stdout);
    return fromParsed(udxFlow(got.value, sent.ok ? sent.value : null));
  }

  /** --ping heartbeats: their round trips in ms, or an error. */
  async pings(count: number, intervalMs: number): Promise<number[] | string> {
    const client = this.connect('bittrrt --ping', ['--ping', String(count), '--interval', String(intervalMs)]);
    await client.finish(count * intervalMs + RUN_SLACK_S * 1000);
    const times = parsePingTimes(client.stdout);
    return times.length > 0 ? times : `--ping gave no round trip: ${client.stderr.trim().slice(-200)}`;
  }

  /** The ping median without load, then during a full-rate --bwup of `seconds`. */
  async latencyUnderLoad(seconds: number): Promise<{ base: number | null; loaded: number | null; loadedSamples: number; load: Measured; error: string | null }> {
    const base = await this.pings(BASE_PINGS, PING_INTERVAL_MS / 2);
    const loadRun = this.bandwidthUp(seconds, 'bittrrt --bwup (load)');
    await new Promise((resolve) => setTimeout(resolve, LOAD_SETTLE_MS));
    const count = Math.max(1, Math.floor(((seconds * 1000) - LOAD_SETTLE_MS - 1000) / PING_INTERVAL_MS));
    const loaded = await this.pings(count, PING_INTERVAL_MS);
    const load = await loadRun;
    const errors = [base, loaded].filter((v): v is string => typeof v === 'string');
    return {
      base: typeof base === 'string' ? null : median(base),
      loaded: typeof loaded === 'string' ? null : median(loaded),
      loadedSamples: typeof loaded === 'string' ? 0 : loaded.length,
      load,
      error: errors.length > 0 ? errors.join('; ') : null,
    };
  }

  async stop(): Promise<void> {
    await this.bittrrt.stop('SIGINT');
  }
}

/** Runs one protocol of a grid row. */
export function measure(servers: Servers, protocol: Protocol, seconds: number, sendFile: string): Promise<Measured> {
  switch (protocol) {
    case 'cubic':
    case 'bbr':
      return servers.iperf3Run(protocol, seconds);
    case 'bittrrt':
      return servers.bandwidthUp(seconds);
    case 'udx':
      return servers.udxRun(seconds);
    case 'send':
      return servers.sendFile(sendFile);
  }
}
