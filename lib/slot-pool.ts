/**
 * Fixed-size slots cut from shared ArrayBuffers, and recycled. Every version-2 TrafficKeys holds two
 * 32-byte keys and a 320-byte replay ring; as typed arrays of their own each costs an
 * ArrayBuffer and a malloc'd backing store (about 570 B of RSS for a 32-byte key, 680 B for the
 * ring), as views into a shared slab about 100 B each. A released slot is zeroed and handed out
 * again, so slabs do not pile up as sessions come and go; its holder must drop it (and never
 * release it twice), or two owners would share one slot.
 */
export class SlotPool<T extends Uint8Array | Uint32Array> {
  readonly #free: T[] = [];
  #slab: ArrayBuffer | null = null;
  #used = 0;

  /** `view` makes a slot of `slotBytes` (a multiple of 8) at a byte offset of a slab of `slotsPerSlab` slots. */
  constructor(private readonly slotBytes: number, private readonly slotsPerSlab: number,
    private readonly view: (slab: ArrayBuffer, byteOffset: number) => T) {}

  take(): T {
    const recycled = this.#free.pop();
    if (recycled) return recycled;
    if (this.#slab === null || this.#used === this.slotsPerSlab) {
      this.#slab = new ArrayBuffer(this.slotBytes * this.slotsPerSlab);
      this.#used = 0;
    }
    return this.view(this.#slab, this.slotBytes * this.#used++);
  }

  /** Zeroes `slot` and makes it available again. */
  release(slot: T): void {
    slot.fill(0);
    this.#free.push(slot);
  }
}
