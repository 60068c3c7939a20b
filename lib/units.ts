/**
 * How every size, rate and duration a person reads is written: sizes in binary units (KiB, MiB:
 * what file managers and `ls -h` show), rates in decimal units per second (kB/s, MB/s: what link
 * speeds are sold in). One line never mixes other systems, and a unit is scaled so that a small
 * value does not round to zero.
 */

const BINARY_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;
const DECIMAL_RATES = ['kB/s', 'MB/s', 'GB/s', 'TB/s'] as const;
const BIT_RATES = ['kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'] as const;

/** `n` bytes: `512 B`, `1.5 KiB`, `86.9 MiB`. */
export function formatBytes(n: number): string {
  return scaled(Math.max(0, n), 1024, 'B', BINARY_UNITS);
}

/** A rate in bytes per second: `850 B/s`, `12.3 kB/s`, `30.3 MB/s`. */
export function formatRate(bytesPerSecond: number): string {
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond < 0) return '? B/s';
  return scaled(bytesPerSecond, 1000, 'B/s', DECIMAL_RATES);
}

/** A rate in bytes per second, in bits as link speeds and iperf3 give them: `850 bit/s`, `94.2 Mbit/s`. */
export function formatBitRate(bytesPerSecond: number): string {
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond < 0) return '? bit/s';
  return scaled(bytesPerSecond * 8, 1000, 'bit/s', BIT_RATES);
}

/** `value` in whole base units below `base`, else with one decimal in the largest unit that keeps it at `base` or more. */
function scaled(value: number, base: number, unitOfOne: string, units: readonly string[]): string {
  if (value < base) return `${Math.round(value)} ${unitOfOne}`;
  let scaledValue = value / base;
  let unit = 0;
  // 1023.96 KiB would print as "1024.0 KiB": step up once the rounded value reaches the next unit.
  while (Number(scaledValue.toFixed(1)) >= base && unit < units.length - 1) {
    scaledValue /= base;
    unit++;
  }
  return `${scaledValue.toFixed(1)} ${units[unit]}`;
}

/** A measured duration: `0.004 s`, `3.01 s`, `42.5 s`, `2 min 05 s`, `1 h 02 min`. */
export function formatDuration(seconds: number): string {
  if (seconds < 1) return `${seconds.toFixed(3)} s`;
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return formatLong(Math.round(seconds));
}

/** An estimate, in whole seconds (a tenth of a second would claim a precision it does not have): `7s`, `2m05s`. */
export function formatEta(seconds: number): string {
  const whole = Math.max(0, Math.ceil(seconds));
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${pad(whole % 60)}s`;
  return `${Math.floor(whole / 3600)}h${pad(Math.floor(whole / 60) % 60)}m`;
}

function formatLong(whole: number): string {
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${pad(whole % 60)} s`;
  return `${Math.floor(whole / 3600)} h ${pad(Math.floor(whole / 60) % 60)} min`;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** `n` directories, in words: `1 directory`, `3 directories` (`what` before the noun: `1 empty directory`). */
export function countDirectories(n: number, what = ''): string {
  return `${n} ${what}${what === '' ? '' : ' '}director${n === 1 ? 'y' : 'ies'}`;
}
