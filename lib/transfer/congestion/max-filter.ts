/**
 * The largest value seen over a sliding window (of rounds, or of milliseconds), kept as the best,
 * second-best and third-best samples of successive sub-windows: Kathleen Nichols' algorithm, as
 * Linux keeps BBR's bandwidth estimate (lib/win_minmax.c). O(1) per sample, three slots of memory,
 * and a new maximum or an expired one needs no history to recompute.
 */
export class MaxFilter {
  readonly #value = [0, 0, 0];
  readonly #time = [0, 0, 0];

  constructor(private readonly window: number) {}

  get best(): number {
    return this.#value[0]!;
  }

  reset(value: number, time: number): void {
    this.#value.fill(value);
    this.#time.fill(time);
  }

  update(value: number, time: number): number {
    const v = this.#value;
    const t = this.#time;
    if (value >= v[0]! || time - t[2]! > this.window) {
      this.reset(value, time);
      return value;
    }
    if (value >= v[1]!) {
      v[1] = v[2] = value;
      t[1] = t[2] = time;
    } else if (value >= v[2]!) {
      v[2] = value;
      t[2] = time;
    }
    return this.#age(value, time);
  }

  /** As win_minmax's subwin_update: expire the best as it ages out, and refresh the sub-windows. */
  #age(value: number, time: number): number {
    const v = this.#value;
    const t = this.#time;
    const elapsed = time - t[0]!;
    if (elapsed > this.window) {
      v[0] = v[1]!; t[0] = t[1]!;
      v[1] = v[2]!; t[1] = t[2]!;
      v[2] = value; t[2] = time;
      if (time - t[0]! > this.window) {
        v[0] = v[1]!; t[0] = t[1]!;
        v[1] = v[2]!; t[1] = t[2]!;
      }
    } else if (t[1] === t[0] && elapsed > this.window / 4) {
      v[1] = v[2] = value;
      t[1] = t[2] = time;
    } else if (t[2] === t[1] && elapsed > this.window / 2) {
      v[2] = value;
      t[2] = time;
    }
    return v[0]!;
  }
}
