/**
 * Places for work that runs for a while on a peer's behalf (bandwidth tests, prefix hashes),
 * counted in all and per host. A request that does not fit is refused at once, never queued (a
 * queue would only move the work later); a place is held until its release function is called.
 */
export class HostSlots {
  #running = 0;
  readonly #byHost = new Map<string, number>();

  constructor(readonly inAll: number, readonly perHost: number) {}

  /** Places held now. */
  get running(): number {
    return this.#running;
  }

  /** A release function (calling it again does nothing), or which limit is full. */
  take(host: string): (() => void) | 'host' | 'all' {
    const mine = this.#byHost.get(host) ?? 0;
    if (mine >= this.perHost) return 'host';
    if (this.#running >= this.inAll) return 'all';
    this.#running++;
    this.#byHost.set(host, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#running--;
      const left = (this.#byHost.get(host) ?? 1) - 1;
      if (left > 0) this.#byHost.set(host, left);
      else this.#byHost.delete(host);
    };
  }
}
