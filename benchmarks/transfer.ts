/**
 * File transfer on loopback, in one run so the ratios compare measurements taken under the same
 * conditions: (a) the raw UDP ceiling in datagrams of bittrrt's size, (b) a bittrrt upload,
 * (c) the same bytes over TLS 1.3, then bittrrt through the impairment proxy at 0%, 1% and 5%
 * loss. The proxy runs move a smaller file (5% loss is slow), and are judged against the 0% run
 * through the same proxy, which pays the proxy's own cost too.
 */
import { randomFillSync } from 'node:crypto';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MAX_DATAGRAM } from '../lib/constants.js';
import { bittrrtUpload, rawUdpCeiling, tlsBaseline, type ThroughputResult, type TransferRun } from './baselines.js';
import type { Progress } from './harness.js';

/** The goals. */
export const RAW_UDP_GOAL = 0.6;
export const LOSS_1_GOAL = 0.5;

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

/** One ratio of two throughputs, judged when it has a goal. */
export interface TransferRatio {
  readonly value: number;
  /** Null for an informational ratio. */
  readonly goal: number | null;
  readonly pass: boolean | null;
}

export interface JudgedRatio extends TransferRatio {
  readonly goal: number;
  readonly pass: boolean;
}

export interface TransferReport {
  readonly config: TransferConfig;
  /** 1-minute load average when the section started: other work on the machine skews every number. */
  readonly loadAverage: number;
  readonly rawUdp: ThroughputResult;
  readonly bittrrt: TransferRun;
  readonly tls: ThroughputResult;
  readonly viaProxy: { readonly noLoss: TransferRun; readonly loss1: TransferRun; readonly loss5: TransferRun };
  readonly ratios: {
    /** b/a: bittrrt ÷ raw UDP ceiling; goal RAW_UDP_GOAL. */
    readonly bittrrtOfRawUdp: JudgedRatio;
    /** b/c: bittrrt ÷ TLS. */
    readonly bittrrtOfTls: TransferRatio;
    /** 1% loss ÷ 0% loss, both through the proxy; goal LOSS_1_GOAL. */
    readonly loss1OfNoLoss: JudgedRatio;
    readonly loss5OfNoLoss: TransferRatio;
    /** 1% loss ÷ the direct upload: the proxy's cost and a smaller file included. */
    readonly loss1OfDirect: TransferRatio;
  };
}

function ratio(numerator: ThroughputResult, denominator: ThroughputResult): TransferRatio {
  return { value: numerator.mbPerSec / denominator.mbPerSec, goal: null, pass: null };
}

function judged(numerator: ThroughputResult, denominator: ThroughputResult, goal: number): JudgedRatio {
  const value = numerator.mbPerSec / denominator.mbPerSec;
  return { value, goal, pass: value >= goal };
}

/** Random bytes, so nothing on the way can profit from a pattern in them. */
async function writeRandomFile(path: string, bytes: number): Promise<void> {
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

export async function runTransferBenchmarks(options: { quick: boolean; progress: Progress }): Promise<TransferReport> {
  const config = options.quick ? QUICK_TRANSFER_CONFIG : DEFAULT_TRANSFER_CONFIG;
  const { progress } = options;
  const loadAverage = loadavg()[0] ?? 0;
  const root = await mkdtemp(join(tmpdir(), 'bittrrt-bench-'));
  try {
    const inbox = join(root, 'inbox');
    await mkdir(inbox);
    const big = join(root, 'direct.bin');
    const small = join(root, 'lossy.bin');
    progress(`transfer: writing ${mib(config.bytes)} and ${mib(config.lossBytes)} of random data to ${root}`);
    await writeRandomFile(big, config.bytes);
    await writeRandomFile(small, config.lossBytes);

    progress(`transfer: (a) raw UDP ceiling, ${mib(config.bytes)} in ${config.datagramBytes}-byte datagrams`);
    const rawUdp = await rawUdpCeiling({ bytes: config.bytes, datagramBytes: config.datagramBytes });
    progress(`transfer: (b) bittrrt upload of ${mib(config.bytes)}`);
    const bittrrt = await bittrrtUpload({ path: big, bytes: config.bytes, inbox });
    progress(`transfer: (c) TLS 1.3, ${mib(config.bytes)}`);
    const tls = await tlsBaseline({ bytes: config.bytes });
    const viaProxy = async (drop: number): Promise<TransferRun> => {
      progress(`transfer: (d) bittrrt upload of ${mib(config.lossBytes)} through the impairment proxy, ${drop * 100}% loss`);
      return bittrrtUpload({ path: small, bytes: config.lossBytes, inbox, drop, seed: IMPAIRMENT_SEED });
    };
    const noLoss = await viaProxy(0);
    const loss1 = await viaProxy(0.01);
    const loss5 = await viaProxy(0.05);

    return {
      config,
      loadAverage,
      rawUdp,
      bittrrt,
      tls,
      viaProxy: { noLoss, loss1, loss5 },
      ratios: {
        bittrrtOfRawUdp: judged(bittrrt, rawUdp, RAW_UDP_GOAL),
        bittrrtOfTls: ratio(bittrrt, tls),
        loss1OfNoLoss: judged(loss1, noLoss, LOSS_1_GOAL),
        loss5OfNoLoss: ratio(loss5, noLoss),
        loss1OfDirect: ratio(loss1, bittrrt),
      },
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
