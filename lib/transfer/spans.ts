/**
 * A set of byte offsets kept as sorted, disjoint, non-adjacent half-open spans [start, end), as
 * the original kept received sequences. The receiver records what arrived; the sender records
 * what was acknowledged. Spans are few (one per gap), so the flat array stays small.
 */
export class Spans {
  /** start0, end0, start1, end1, ... ascending; adjacent spans are merged. */
  #edges: number[] = [];

  /** Number of disjoint spans. */
  get count(): number {
    return this.#edges.length / 2;
  }

  /** Adds [start, end); returns how many of its bytes were not in the set before. */
  add(start: number, end: number): number {
    if (end <= start) return 0;
    const edges = this.#edges;
    // First span that ends at or after `start` (it may touch or overlap the new one).
    const i = this.#firstEndingFrom(start);
    let newStart = start;
    let newEnd = end;
    let covered = 0;
    let j = i;
    while (j < edges.length && edges[j]! <= end) {
      const s = edges[j]!;
      const e = edges[j + 1]!;
      covered += Math.max(0, Math.min(e, end) - Math.max(s, start));
      newStart = Math.min(newStart, s);
      newEnd = Math.max(newEnd, e);
      j += 2;
    }
    edges.splice(i, j - i, newStart, newEnd);
    return end - start - covered;
  }

  /** Whether every byte of [start, end) is in the set. */
  covers(start: number, end: number): boolean {
    if (end <= start) return true;
    const i = this.#firstEndingFrom(start + 1);
    return i < this.#edges.length && this.#edges[i]! <= start && this.#edges[i + 1]! >= end;
  }

  /** Whether any byte of [start, end) is in the set. */
  overlaps(start: number, end: number): boolean {
    if (end <= start) return false;
    const i = this.#firstEndingFrom(start + 1);
    return i < this.#edges.length && this.#edges[i]! < end;
  }

  /** The end of the span that holds `offset`, or `offset` itself when it is not in the set. */
  contiguousEnd(offset: number): number {
    const i = this.#firstEndingFrom(offset + 1);
    return i < this.#edges.length && this.#edges[i]! <= offset ? this.#edges[i + 1]! : offset;
  }

  /** The spans at or above `from`, lowest first, at most `limit` of them. */
  spansFrom(from: number, limit: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = this.#firstEndingFrom(from + 1); i < this.#edges.length && out.length < limit; i += 2) {
      out.push([Math.max(this.#edges[i]!, from), this.#edges[i + 1]!]);
    }
    return out;
  }

  /**
   * The highest `limit` spans at or above `from`, lowest first. An acknowledgement names these
   * when there are more gaps than it can carry: the sender already heard of the older spans,
   * and packets above the last one named would otherwise look lost.
   */
  newestSpans(from: number, limit: number): Array<[number, number]> {
    const first = Math.max(this.#firstEndingFrom(from + 1), this.#edges.length - 2 * limit);
    const out: Array<[number, number]> = [];
    for (let i = first; i < this.#edges.length; i += 2) out.push([Math.max(this.#edges[i]!, from), this.#edges[i + 1]!]);
    return out;
  }

  /** The span that holds `offset`, or null. */
  spanAt(offset: number): [number, number] | null {
    const i = this.#firstEndingFrom(offset + 1);
    return i < this.#edges.length && this.#edges[i]! <= offset ? [this.#edges[i]!, this.#edges[i + 1]!] : null;
  }

  /** Forgets every byte below `offset` (the part a cumulative acknowledgement already covers). */
  forgetBelow(offset: number): void {
    const i = this.#firstEndingFrom(offset + 1);
    this.#edges.splice(0, i);
    if (this.#edges.length > 0 && this.#edges[0]! < offset) this.#edges[0] = offset;
  }

  /** Index (even) of the first span whose end is >= `offset`; edges.length if none. */
  #firstEndingFrom(offset: number): number {
    const edges = this.#edges;
    let lo = 0;
    let hi = edges.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (edges[mid * 2 + 1]! < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo * 2;
  }
}
