/**
 * Buffers for the datagram hot path, carved from 1 MiB slabs. Buffer.allocUnsafe takes small
 * buffers from an 8 KiB pool, so a bulk transfer makes one ArrayBuffer every five datagrams and
 * the garbage collector spends about a tenth of the sender's time on them; a slab makes one per
 * ~700. A slab lives until every buffer cut from it is gone, so only buffers that die at once
 * (datagrams handed to the socket) come from here: a received body that a peer could make us
 * keep would pin a whole slab.
 */
const SLAB_BYTES = 1024 * 1024;
/** Cuts start at 8-byte boundaries, as the pool's do. */
const ALIGN = 8;

let slab = new ArrayBuffer(0);
let used = 0;

export function allocFromSlab(length: number): Buffer {
  if (length > SLAB_BYTES / 8) return Buffer.allocUnsafe(length);
  if (used + length > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES);
    used = 0;
  }
  const buffer = Buffer.from(slab, used, length);
  used += (length + ALIGN - 1) & ~(ALIGN - 1);
  return buffer;
}
