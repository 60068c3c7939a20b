/**
 * The WAN bench's laboratory: two network namespaces joined by the userspace path emulator
 * (emulator.c, compiled here with gcc), and the child processes that run inside them.
 *
 * Namespace a holds the senders (198.18.0.1), namespace b the servers (198.18.0.2): addresses from
 * the RFC 2544 benchmarking range, reachable only inside these two namespaces, which have no other
 * interface than loopback and the emulator's TUN device. Names carry the PID, so parallel runs do
 * not collide. Everything is torn down synchronously (children killed, namespaces deleted) so that
 * the same cleanup serves a normal end, an error, Ctrl-C and SIGTERM.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bufferBytes, type PathSpec } from './args.js';
import { emulatorProblems, parseEmulatorCounters, type EmulatorCounters } from './parse.js';

export const ADDRESS_A = '198.18.0.1';
export const ADDRESS_B = '198.18.0.2';
/** The TUN device's name inside each namespace (each namespace has its own, so no suffix is needed). */
const IFNAME = 'wan0';
/** Ethernet's MTU: what the TCP runs and bittrrt's default 1444-byte datagrams are sized for. */
const MTU = 1500;

const SOURCE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/**
 * The endpoints' nice value: the highest CFS weight (about 87 times nice 0's share), not a
 * real-time class. Under SCHED_FIFO two Node processes livelocked here: each main thread polled for
 * V8's concurrent sweeper and the libuv thread pool, whose threads inherit the same real-time
 * priority and never got a core, at 90% CPU each, until killed (a 64 MiB upload on the 1%-loss path,
 * reproduced with one loss seed: `perf` showed the main thread in cppgc's sweep task and eventfd
 * wake-ups). CFS cannot starve a thread like that.
 */
const ENDPOINT_NICE = -20;
/**
 * The endpoints' environment: the bench's own, less NODE_EXTRA_CA_CERTS. With it set (as some
 * sandboxes and corporate machines do) every Node process reads and parses that CA bundle as it
 * starts, for TLS that neither bittrrt nor udx uses: `node -e 0` took 0.13–0.14 s with it and 0.05
 * without on this machine. A 64 MiB upload timed from process start would carry the machine's
 * setup, not the program's.
 */
export const ENDPOINT_ENV: NodeJS.ProcessEnv = (() => {
  const { NODE_EXTRA_CA_CERTS: _caBundle, ...rest } = process.env;
  return rest;
})();
export const EMULATOR_SOURCE = join(SOURCE_ROOT, 'benchmarks', 'wan', 'emulator.c');
export const BITTRRT_BIN = join(SOURCE_ROOT, 'bin', 'bittrrt');
export const UDX_PEER = fileURLToPath(new URL('./udx-peer.js', import.meta.url));

const STOP_GRACE_MS = 3_000;
const READY_MS = 10_000;

/** What the bench needs that this machine lacks; empty when it can run. */
export function missingForLab(): string[] {
  const missing: string[] = [];
  if (process.platform !== 'linux') return ['Linux (network namespaces and TUN)'];
  if (process.getuid?.() !== 0) missing.push('root (network namespaces and TUN devices need CAP_NET_ADMIN; run as root)');
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    missing.push('/dev/net/tun (no TUN support, or no access to it)');
  }
  if (!hasCommand('ip')) missing.push('ip (iproute2: apt-get install -y iproute2)');
  if (!hasCommand('gcc')) missing.push('gcc, to build the path emulator (apt-get install -y gcc)');
  return missing;
}

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** A child process, its output gathered as text. */
export class Proc {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  #listeners: Array<() => void> = [];

  constructor(readonly label: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      this.stdout += text;
      for (const l of this.#listeners) l();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      this.stderr += text;
    });
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.stderr += `\n${err.message}`;
        resolve(null);
      });
      this.child.once('close', (code) => {
        for (const l of this.#listeners) l();
        resolve(code);
      });
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first match of `pattern` in stdout; rejects when the process ends first or `ms` pass. */
  waitFor(pattern: RegExp, ms: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`${this.label}: no ${pattern} within ${ms} ms; stderr: ${this.stderr.trim().slice(-300)}`)), ms);
      const check = (): void => {
        const m = pattern.exec(this.stdout);
        if (m !== null) finish(m);
        else if (!this.running) finish(new Error(`${this.label} exited (${this.child.exitCode ?? this.child.signalCode}) before ${pattern}: ${this.stderr.trim().slice(-300)}`));
      };
      const finish = (result: RegExpExecArray | Error): void => {
        clearTimeout(timer);
        this.#listeners = this.#listeners.filter((l) => l !== check);
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      this.#listeners.push(check);
      check();
    });
  }

  /** Resolves with the exit code; kills the process when it has not ended within `ms`. */
  async finish(ms: number): Promise<{ code: number | null; timedOut: boolean }> {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.child.kill('SIGKILL');
    }, ms);
    const code = await this.exited;
    clearTimeout(timer);
    return { code, timedOut };
  }

  /** SIGTERM (or `signal`), then SIGKILL if it lingers. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

export type Side = 'a' | 'b';

export interface PathRun<T> {
  readonly value: T;
  readonly emulator: { readonly aToB: EmulatorCounters; readonly bToA: EmulatorCounters } | null;
  readonly problems: readonly string[];
}

export class Lab {
  readonly dir: string;
  readonly ns: Readonly<Record<Side, string>>;
  readonly emulatorPath: string;
  readonly #children = new Set<Proc>();
  #closed = false;
  /** Whether the emulator got real-time scheduling (null before it first ran): without it, other load delays packets. */
  realtime: boolean | null = null;

  private constructor(dir: string, ns: Record<Side, string>, emulatorPath: string) {
    this.dir = dir;
    this.ns = ns;
    this.emulatorPath = emulatorPath;
  }

  /** Builds the emulator and makes the two namespaces; cleans up after itself if either fails. */
  static create(): Lab {
    const dir = mkdtempSync(join(tmpdir(), 'bittrrt-wan-'));
    const emulatorPath = join(dir, 'emulator');
    const suffix = `${process.pid}`;
    const lab = new Lab(dir, { a: `bt-wan-a-${suffix}`, b: `bt-wan-b-${suffix}` }, emulatorPath);
    try {
      execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', emulatorPath, EMULATOR_SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
      for (const side of ['a', 'b'] as const) {
        execFileSync('ip', ['netns', 'add', lab.ns[side]], { stdio: ['ignore', 'ignore', 'pipe'] });
        execFileSync('ip', ['-n', lab.ns[side], 'link', 'set', 'lo', 'up'], { stdio: ['ignore', 'ignore', 'pipe'] });
        // IPv4 only: IPv6 would send its own packets (MLD, router solicitations) through the path as soon as a device is up.
        execFileSync('ip', ['netns', 'exec', lab.ns[side], 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'],
          { stdio: ['ignore', 'ignore', 'pipe'] });
      }
    } catch (err) {
      lab.closeSync();
      throw err;
    }
    return lab;
  }

  /**
   * Runs `command` inside the namespace of `side` (via `ip netns exec`, which execs it: the PID is
   * the command's), at nice ENDPOINT_NICE. Kernel TCP does its work in softirq context, which other
   * processes on a shared machine barely delay; a user-space protocol competes with them for the
   * CPU, and at a load average of 12 bittrrt lost three quarters of its rate to them at nice 0.
   * Every endpoint (iperf3, bittrrt, udx) gets the same priority, below the emulator's real-time
   * one, so the bench compares the protocols, not the neighbours.
   */
  spawn(side: Side, label: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv = ENDPOINT_ENV): Proc {
    if (this.#closed) throw new Error('the lab is closed');
    const priority = hasCommand('nice') ? ['nice', '-n', String(ENDPOINT_NICE)] : [];
    const proc = new Proc(label, 'ip', ['netns', 'exec', this.ns[side], ...priority, command, ...args], env);
    this.#children.add(proc);
    void proc.exited.then(() => this.#children.delete(proc));
    return proc;
  }

  /**
   * Starts the emulator for `path`, gives the two TUN devices their addresses, runs `fn`, then stops
   * the emulator and reads its counters. The devices vanish with the emulator, so each run starts
   * with an empty queue and the same loss sequence.
   */
  async withPath<T>(path: PathSpec, seed: number, fn: () => Promise<T>): Promise<PathRun<T>> {
    const oneWayUs = Math.round((path.rttMs * 1000) / 2);
    const emulator = new Proc('emulator', this.emulatorPath, [
      '--ns-a', `/run/netns/${this.ns.a}`, '--ns-b', `/run/netns/${this.ns.b}`, '--ifname', IFNAME,
      '--rate', String(path.rateMbit * 1e6), '--delay-us', String(oneWayUs), '--limit-bytes', String(bufferBytes(path)),
      '--loss', String(path.lossPercent / 100), '--seed', String(seed),
    ], process.env);
    this.#children.add(emulator);
    try {
      const [, realtime] = await emulator.waitFor(/^ready .*realtime=(\w+)/m, READY_MS);
      this.realtime = realtime === 'yes';
      // One device is up before the other: what the kernel sends in between (retransmissions for
      // the previous run's orphaned TCP connections, a lingering session's heartbeat) meets a
      // device that is down, and the emulator counts it as dropped_down.
      for (const [side, local, peer] of [['a', ADDRESS_A, ADDRESS_B], ['b', ADDRESS_B, ADDRESS_A]] as const) {
        const ip = (...args: string[]): void => {
          execFileSync('ip', ['-n', this.ns[side], ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
        };
        ip('addr', 'add', local, 'peer', peer, 'dev', IFNAME);
        ip('link', 'set', IFNAME, 'mtu', String(MTU), 'up');
      }
      const value = await fn();
      await emulator.stop('SIGTERM');
      const counters = parseEmulatorCounters(emulator.stdout);
      const problems = counters === null ? [`the emulator printed no counters (${emulator.stderr.trim().slice(-200)})`] : emulatorProblems(counters);
      return { value, emulator: counters, problems };
    } finally {
      await emulator.stop('SIGKILL');
      this.#children.delete(emulator);
    }
  }

  /** Kills every child still running and deletes the namespaces and the build directory; safe to call twice. */
  closeSync(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const proc of this.#children) if (proc.running) proc.child.kill('SIGKILL');
    this.#children.clear();
    for (const ns of Object.values(this.ns)) {
      if (existsSync(`/run/netns/${ns}`)) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
