/**
 * Reading what the bench's programs print: iperf3 --json, bittrrt --json logs, the udx peer's
 * report and the emulator's counters. Pure and never throwing: a malformed output is a null (or a
 * result with an error), which the bench reports rather than crashes on (test/bench/wan-parse.test.ts).
 */

/** One measured flow. */
export interface FlowResult {
  /** Application bytes delivered per second, in Mbit/s (1e6 bits). */
  readonly goodputMbit: number;
  /** Retransmitted packets in percent of packets sent; null when the program does not tell. */
  readonly retransmitPercent: number | null;
  /** Mean (or smoothed) RTT under load in ms; null when not known. */
  readonly rttMs: number | null;
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const finite = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const fail = <T>(error: string): Parsed<T> => ({ ok: false, error });

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** iperf3's default MSS guess when the JSON does not say (1500 − 40 of headers − 12 of TCP timestamps). */
const DEFAULT_TCP_MSS = 1448;

/**
 * `iperf3 -c ... --json`: goodput is what the receiver got (sum_received), retransmits are the
 * sender's segment count over the segments its bytes make, RTT the sender's mean_rtt (µs). With
 * `congestion`, a run whose sender used another algorithm is an error.
 */
export function parseIperf3(text: string, congestion?: string): Parsed<FlowResult> {
  const doc = parseJson(text);
  if (!isRecord(doc)) return fail('iperf3 printed no JSON object');
  if (typeof doc.error === 'string') return fail(`iperf3: ${doc.error}`);
  const end = doc.end;
  if (!isRecord(end) || !isRecord(end.sum_received) || !isRecord(end.sum_sent)) return fail('iperf3 JSON has no end.sum_received/sum_sent');
  // -C is a request: a kernel without the algorithm would run its default, and the row would be mislabelled.
  const used = end.sender_tcp_congestion;
  if (congestion !== undefined && typeof used === 'string' && used !== congestion) return fail(`iperf3 ran ${used}, not ${congestion}`);
  const bps = finite(end.sum_received.bits_per_second);
  const sentBytes = finite(end.sum_sent.bytes);
  if (bps === null || bps < 0) return fail('iperf3 JSON has no receiver bits_per_second');
  const retransmits = finite(end.sum_sent.retransmits);
  const start = isRecord(doc.start) ? doc.start : {};
  const mss = finite(start.tcp_mss_default) ?? DEFAULT_TCP_MSS;
  const segments = sentBytes === null || mss <= 0 ? 0 : Math.ceil(sentBytes / mss);
  const retransmitPercent = retransmits === null || segments === 0 ? null : (100 * retransmits) / segments;
  const streams = Array.isArray(end.streams) ? end.streams : [];
  const first: unknown = streams[0];
  const sender = isRecord(first) && isRecord(first.sender) ? first.sender : {};
  const meanRttUs = finite(sender.mean_rtt);
  return { ok: true, value: { goodputMbit: bps / 1e6, retransmitPercent, rttMs: meanRttUs === null ? null : meanRttUs / 1000 } };
}

/** The JSON log lines in `text` (bittrrt --json); other lines are skipped. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').flatMap((line) => {
    const doc = line.trim().startsWith('{') ? parseJson(line) : undefined;
    return isRecord(doc) ? [doc] : [];
  });
}

/** `bittrrt connect --bwup S --json`: its "bandwidth up: ..." line (mbit_s, loss_pct = retransmitted %, rtt_ms = srtt). */
export function parseBittrrtBandwidth(text: string): Parsed<FlowResult> {
  const line = jsonLines(text).find((l) => typeof l.msg === 'string' && l.msg.startsWith('bandwidth up:'));
  if (line === undefined) {
    const error = jsonLines(text).find((l) => l.level === 'error');
    return fail(typeof error?.msg === 'string' ? `bittrrt: ${error.msg}` : 'bittrrt printed no "bandwidth up" line');
  }
  const mbit = finite(line.mbit_s);
  if (mbit === null || mbit < 0) return fail('bittrrt bandwidth line has no mbit_s');
  return { ok: true, value: { goodputMbit: mbit, retransmitPercent: finite(line.loss_pct), rttMs: finite(line.rtt_ms) } };
}

/** `bittrrt connect --send FILE --json`: its "sent NAME" line's retransmitted share (the rate is timed from outside). */
export function parseBittrrtSend(text: string): Parsed<{ readonly bytes: number; readonly retransmitPercent: number | null }> {
  const line = jsonLines(text).find((l) => typeof l.msg === 'string' && l.msg.startsWith('sent '));
  if (line === undefined) {
    const error = jsonLines(text).find((l) => l.level === 'error');
    return fail(typeof error?.msg === 'string' ? `bittrrt: ${error.msg}` : 'bittrrt printed no "sent" line');
  }
  const bytes = finite(line.bytes);
  if (bytes === null || bytes <= 0) return fail('bittrrt "sent" line has no bytes');
  return { ok: true, value: { bytes, retransmitPercent: finite(line.retransmitted_pct) } };
}

/** `bittrrt connect --ping N --json`: every heartbeat round trip in ms, in order. */
export function parsePingTimes(text: string): number[] {
  return jsonLines(text).flatMap((l) => {
    if (l.msg !== 'heartbeat reply') return [];
    const ms = typeof l.time_ms === 'string' ? Number(l.time_ms) : finite(l.time_ms);
    return ms !== null && Number.isFinite(ms) && ms >= 0 ? [ms] : [];
  });
}

/** The udx peer's one-line JSON reports (udx-peer.ts): the receiver's bytes and seconds, the sender's counters. */
export interface UdxReport {
  readonly role: 'receiver' | 'sender';
  readonly bytes: number;
  readonly seconds: number;
  readonly packets?: number;
  readonly retransmits?: number;
  readonly rttMs?: number;
}

export function parseUdxReport(text: string): Parsed<UdxReport> {
  const line = jsonLines(text).find((l) => l.role === 'receiver' || l.role === 'sender');
  if (line === undefined) return fail('udx peer printed no report');
  const bytes = finite(line.bytes);
  const seconds = finite(line.seconds);
  if (bytes === null || seconds === null || bytes < 0 || seconds < 0) return fail('udx report has no bytes/seconds');
  const optional = (k: string): number | undefined => finite(line[k]) ?? undefined;
  return {
    ok: true,
    value: { role: line.role === 'receiver' ? 'receiver' : 'sender', bytes, seconds, packets: optional('packets'), retransmits: optional('retransmits'), rttMs: optional('rttMs') },
  };
}

/** udx's goodput from the receiver's report, its retransmitted share and RTT from the sender's. */
export function udxFlow(receiver: UdxReport, sender: UdxReport | null): Parsed<FlowResult> {
  if (receiver.seconds <= 0) return fail('udx receiver got no data');
  const retransmitPercent = sender?.packets !== undefined && sender.retransmits !== undefined && sender.packets > 0
    ? (100 * sender.retransmits) / sender.packets : null;
  return { ok: true, value: { goodputMbit: (receiver.bytes * 8) / receiver.seconds / 1e6, retransmitPercent, rttMs: sender?.rttMs ?? null } };
}

/** One direction's counters, as the emulator prints them on exit. */
export interface EmulatorCounters {
  readonly direction: 'a_to_b' | 'b_to_a';
  readonly received: number;
  readonly forwarded: number;
  readonly forwardedBytes: number;
  readonly droppedQueue: number;
  readonly droppedLoss: number;
  readonly droppedRing: number;
  readonly droppedLength: number;
  /** Written to a device that was not up yet: between the two devices coming up, before a run's traffic. */
  readonly droppedDown: number;
  readonly writeErrors: number;
  /** The first failed write's errno name ('EIO'), '' when none failed. */
  readonly firstWriteError: string;
  readonly maxQueueBytes: number;
}

const COUNTER_FIELDS = {
  received: 'received', forwarded: 'forwarded', forwardedBytes: 'forwarded_bytes', droppedQueue: 'dropped_queue', droppedLoss: 'dropped_loss',
  droppedRing: 'dropped_ring', droppedLength: 'dropped_length', droppedDown: 'dropped_down', writeErrors: 'write_errors', maxQueueBytes: 'max_queue_bytes',
} as const;

/** Both directions' counters, or null when either line is missing or incomplete. */
export function parseEmulatorCounters(text: string): { readonly aToB: EmulatorCounters; readonly bToA: EmulatorCounters } | null {
  const read = (direction: 'a_to_b' | 'b_to_a'): EmulatorCounters | null => {
    const line = jsonLines(text).find((l) => l.direction === direction);
    if (line === undefined) return null;
    const out: Record<string, number> = {};
    for (const [key, field] of Object.entries(COUNTER_FIELDS)) {
      const v = finite(line[field]);
      if (v === null || v < 0) return null;
      out[key] = v;
    }
    const firstWriteError = typeof line.first_write_error === 'string' ? line.first_write_error : '';
    return { direction, firstWriteError, ...out } as unknown as EmulatorCounters;
  };
  const aToB = read('a_to_b');
  const bToA = read('b_to_a');
  return aToB === null || bToA === null ? null : { aToB, bToA };
}

/** Things in the counters that make a run's numbers suspect: the emulator, not the path, dropped or failed. */
export function emulatorProblems(c: { readonly aToB: EmulatorCounters; readonly bToA: EmulatorCounters }): string[] {
  return [c.aToB, c.bToA].flatMap((d) => [
    ...(d.droppedRing > 0 ? [`${d.direction}: ${d.droppedRing} packets dropped for want of ring slots`] : []),
    ...(d.droppedLength > 0 ? [`${d.direction}: ${d.droppedLength} packets of impossible length`] : []),
    ...(d.writeErrors > 0 ? [`${d.direction}: ${d.writeErrors} failed writes (first: ${d.firstWriteError || 'unknown'})`] : []),
  ]);
}
