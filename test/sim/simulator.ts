/**
 * A discrete-event simulator: a virtual clock in milliseconds and a queue of events ordered by
 * time, then by scheduling order (so equal times run first-come, first-served and a run is
 * deterministic). Nothing here reads real time.
 */
export class Simulator {
  now = 0;
  #heap: Array<{ at: number; seq: number; run: () => void }> = [];
  #seq = 0;

  /** Runs `run` at virtual time `at` (not before now). */
  at(at: number, run: () => void): void {
    const event = { at: Math.max(at, this.now), seq: this.#seq++, run };
    const heap = this.#heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(event, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = event;
  }

  after(delay: number, run: () => void): void {
    this.at(this.now + delay, run);
  }

  /** Runs events until `until` (virtual ms), or until none are left, or `stop` says so. */
  run(until: number, stop: () => boolean = () => false): void {
    const heap = this.#heap;
    while (heap.length > 0 && heap[0]!.at <= until && !stop()) {
      const event = heap[0]!;
      const last = heap.pop()!;
      if (heap.length > 0) {
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          let best = last;
          if (l < heap.length && before(heap[l]!, best)) {
            m = l;
            best = heap[l]!;
          }
          if (r < heap.length && before(heap[r]!, best)) m = r;
          if (m === i) break;
          heap[i] = heap[m]!;
          i = m;
        }
        heap[i] = last;
      }
      this.now = event.at;
      event.run();
    }
    if (!stop() && this.now < until) this.now = until;
  }
}

function before(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
