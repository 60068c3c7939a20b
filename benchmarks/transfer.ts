/**
 * File transfer on loopback, `repeat` times; in each run the ratios compare measurements taken
 * under the same conditions, and the judged ratios are the medians over the runs: (a) the raw UDP ceiling in datagrams of bittrrt's size, (b) a bittrrt upload,
 * (c) the same bytes over TLS 1.3, then bittrrt through the impairment proxy at 0%, 1% and 5%
 * loss, then (e) the same bytes over one udx-native stream (reliable UDP in native code, unencrypted). The proxy runs move a smaller file (5% loss is slow), and are judged against the 0% run
 * through the same proxy, which pays the proxy's own cost too.
 */
import { randomFillSync } from 'node:crypto';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MAX_DATAGRAM } from '../lib/constants.js';
import { defaultIo, type DatagramPath } from '../lib/net/io/native-binding.js';
import { bittrrtUpload, rawUdpCeiling, tlsBaseline, udxBaseline, type ThroughputResult, type TransferRun } from './baselines.js';
import type { Progress } from './harness.js';
import { judge, median, type Goal, type Judgement, type JudgeRules } from './verdict.js';

/** The goals. */
/**
 * Above the raw node:dgram ceiling: (a) pays a system call per datagram, which the native path
 * does not, so (b) can pass it; on node:dgram (b) pays everything (a) does and more.
 */
export const RAW_UDP_GOAL: Goal = {
  what: 'bittrrt ÷ raw UDP over node:dgram (b/a)', target: 1, unit: 'ratio', direction: 'atLeast', knownUnmet: true,
  // Batches of 44-segment GSO sends against one system call per datagram: ten times would mean (a) failed.
  plausible: [0.001, 10],
};
/** The native datagram path's goals: three times the node:dgram path, and at least 60% of TLS. */
export const NATIVE_OF_DGRAM_GOAL: Goal = {
  what: 'bittrrt native path ÷ node:dgram path (b/b′)', target: 3, unit: 'ratio', direction: 'atLeast', knownUnmet: true,
  // The same code on both sides of the socket: a tenfold gap would mean one run was broken.
  plausible: [0.2, 10],
};
export const TLS_GOAL: Goal = {
  what: 'bittrrt ÷ TLS 1.3 over TCP (b/c)', target: 0.6, unit: 'ratio', direction: 'atLeast', knownUnmet: true,
  plausible: [0.001, 5],
};
export const LOSS_1_GOAL: Goal = {
  what: '1% loss ÷ 0% loss through the proxy', target: 0.5, unit: 'ratio', direction: 'atLeast',
  // Losing datagrams cannot make a transfer much faster than losing none.
  plausible: [0.001, 1.2],
};

export interface TransferConfig {
  /** File size of the direct upload, and bytes of the raw UDP and TLS runs. */
  readonly bytes: number;
  /** File size of the runs through the impairment proxy. */
  readonly lossBytes: number;
  readonly datagramBytes: number;
}

const MIB = 2 ** 20;
export const DEFAULT_TRANSFER_CONFIG: TransferConfig = { bytes: 256 * MIB, lossBytes: 64 * MIB, datagramBytes: DEFAULT_MAX_DATAGRAM };
export const QUICK_TRANSFER_CONFIG: TransferConfig = { bytes: 32 * MIB, lossBytes: 16 * MIB, datagramBytes: DEFAULT_MAX_DATAGRAM };

/** The proxy's PRNG seed: every run, and every bench run, drops the same datagrams of the same traffic. */
const IMPAIRMENT_SEED = 0x5eed;
const WRITE_CHUNK_BYTES = 4 * MIB;

/** One bench run: every transfer once, and its ratios of MB/s. */
export interface TransferSet {
  readonly rawUdp: ThroughputResult;
  /** On the native datagram path when the addon is built, else on node:dgram (then the same as bittrrtDgram). */
  readonly bittrrt: TransferRun;
  /** The same upload on node:dgram, for the side-by-side ratio. */
  readonly bittrrtDgram: TransferRun;
  readonly tls: ThroughputResult;
  readonly viaProxy: { readonly noLoss: TransferRun; readonly loss1: TransferRun; readonly loss5: TransferRun };
  readonly udx: ThroughputResult;
  readonly ratios: Readonly<Record<RatioName, number>>;
}

export type RatioName = 'bittrrtOfRawUdp' | 'bittrrtOfTls' | 'bittrrtOfUdx' | 'nativeOfDgram' | 'loss1OfNoLoss' | 'loss5OfNoLoss' | 'loss1OfDirect';

export interface TransferReport {
  readonly config: TransferConfig;
  /** 1-minute load average when the section started: other work on the machine skews every number. */
  readonly loadAverage: number;
  readonly runs: readonly TransferSet[];
  /** Medians over the runs of every ratio (informational ones included). */
  readonly medians: Readonly<Record<RatioName, number>>;
  readonly judgements: {
    readonly bittrrtOfRawUdp: Judgement;
    readonly bittrrtOfTls: Judgement;
    /** Null when the native addon is not built (both uploads ran on node:dgram). */
    readonly nativeOfDgram: Judgement | null;
    readonly loss1OfNoLoss: Judgement;
  };
}

const mbs = (r: ThroughputResult): number => r.mbPerSec;

function ratiosOf(set: Omit<TransferSet, 'ratios'>): TransferSet['ratios'] {
  return {
    bittrrtOfRawUdp: mbs(set.bittrrt) / mbs(set.rawUdp),
    bittrrtOfTls: mbs(set.bittrrt) / mbs(set.tls),
    bittrrtOfUdx: mbs(set.bittrrt) / mbs(set.udx),
    nativeOfDgram: mbs(set.bittrrt) / mbs(set.bittrrtDgram),
    loss1OfNoLoss: mbs(set.viaProxy.loss1) / mbs(set.viaProxy.noLoss),
    loss5OfNoLoss: mbs(set.viaProxy.loss5) / mbs(set.viaProxy.noLoss),
    loss1OfDirect: mbs(set.viaProxy.loss1) / mbs(set.bittrrt),
  };
}

/** Judges the runs' ratios. Raw UDP cannot deliver more than was sent: if it did, its ceiling is no measurement. */
export function judgeTransfer(runs: readonly TransferSet[], config: TransferConfig, rules?: JudgeRules): TransferReport['judgements'] {
  const overDelivered = runs.flatMap((r, i) => (r.rawUdp.bytes > config.bytes
    ? [`run ${i + 1}: raw UDP delivered ${r.rawUdp.bytes} B of ${config.bytes} sent`] : []));
  const native = runs.every((r) => r.bittrrt !== r.bittrrtDgram);
  return {
    bittrrtOfRawUdp: judge(RAW_UDP_GOAL, runs.map((r) => r.ratios.bittrrtOfRawUdp), rules, overDelivered),
    bittrrtOfTls: judge(TLS_GOAL, runs.map((r) => r.ratios.bittrrtOfTls), rules),
    nativeOfDgram: native ? judge(NATIVE_OF_DGRAM_GOAL, runs.map((r) => r.ratios.nativeOfDgram), rules) : null,
    loss1OfNoLoss: judge(LOSS_1_GOAL, runs.map((r) => r.ratios.loss1OfNoLoss), rules),
  };
}

/** Random bytes, so nothing on the way can profit from a pattern in them. */
export async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const chunk = Buffer.allocUnsafe(Math.min(WRITE_CHUNK_BYTES, bytes));
  const file = await open(path, 'wx');
  try {
    for (let left = bytes; left > 0; left -= chunk.length) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      randomFillSync(piece);
      await file.write(piece);
    }
  } finally {
    await file.close();
  }
}

const mib = (bytes: number): string => `${+(bytes / MIB).toFixed(1)} MiB`;

export async function runTransferBenchmarks(options: { quick: boolean; repeat: number; rules: JudgeRules; progress: Progress }): Promise<TransferReport> {
  const config = options.quick ? QUICK_TRANSFER_CONFIG : DEFAULT_TRANSFER_CONFIG;
  const { progress } = options;
  const loadAverage = loadavg()[0] ?? 0;
  // The bench's own process asks the way a server would: BITTRRT_IO, else native when the addon loads.
  const path: DatagramPath = defaultIo() === null ? 'dgram' : 'native';
  const root = await mkdtemp(join(tmpdir(), 'bittrrt-bench-'));
  try {
    const inbox = join(root, 'inbox');
    await mkdir(inbox);
    const big = join(root, 'direct.bin');
    const small = join(root, 'lossy.bin');
    progress(`transfer: writing ${mib(config.bytes)} and ${mib(config.lossBytes)} of random data to ${root}`);
    await writeRandomFile(big, config.bytes);
    await writeRandomFile(small, config.lossBytes);

    const runs: TransferSet[] = [];
    for (let i = 1; i <= options.repeat; i++) {
      const step = (what: string): void => progress(`transfer: run ${i}/${options.repeat}, ${what}`);
      step(`(a) raw UDP ceiling, ${mib(config.bytes)} in ${config.datagramBytes}-byte datagrams`);
      const rawUdp = await rawUdpCeiling({ bytes: config.bytes, datagramBytes: config.datagramBytes });
      step(`(b′) bittrrt upload of ${mib(config.bytes)} on node:dgram`);
      const bittrrtDgram = await bittrrtUpload({ path: big, bytes: config.bytes, inbox, datagramPath: 'dgram' });
      step(`(b) bittrrt upload of ${mib(config.bytes)} on the ${path === 'native' ? 'native datagram path' : 'node:dgram path (the native addon is not built)'}`);
      const bittrrt = path === 'native' ? await bittrrtUpload({ path: big, bytes: config.bytes, inbox, datagramPath: 'native' }) : bittrrtDgram;
      step(`(c) TLS 1.3, ${mib(config.bytes)}`);
      const tls = await tlsBaseline({ bytes: config.bytes });
      const viaProxy = async (drop: number): Promise<TransferRun> => {
        step(`(d) bittrrt upload of ${mib(config.lossBytes)} through the impairment proxy, ${drop * 100}% loss`);
        return bittrrtUpload({ path: small, bytes: config.lossBytes, inbox, drop, seed: IMPAIRMENT_SEED, datagramPath: path });
      };
      const proxied = { noLoss: await viaProxy(0), loss1: await viaProxy(0.01), loss5: await viaProxy(0.05) };
      step(`(e) udx-native stream, ${mib(config.bytes)}`);
      const set = { rawUdp, bittrrt, bittrrtDgram, tls, viaProxy: proxied, udx: await udxBaseline({ bytes: config.bytes }) };
      runs.push({ ...set, ratios: ratiosOf(set) });
    }
    const names: readonly RatioName[] = ['bittrrtOfRawUdp', 'bittrrtOfTls', 'bittrrtOfUdx', 'nativeOfDgram', 'loss1OfNoLoss', 'loss5OfNoLoss', 'loss1OfDirect'];
    const medians = Object.fromEntries(names.map((n) => [n, median(runs.map((r) => r.ratios[n]))])) as Record<RatioName, number>;
    return { config, loadAverage, runs, medians, judgements: judgeTransfer(runs, config, options.rules) };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
