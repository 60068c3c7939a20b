/**
 * Buffers for the datagram hot path, carved from 64 KiB slabs. Buffer.allocUnsafe takes small
 * buffers from an 8 KiB pool, so a bulk transfer makes one ArrayBuffer every five datagrams and
 * the garbage collector spends about a tenth of the sender's time on them; a slab makes one per
 * ~45. A slab lives until every buffer cut from it is gone, so only buffers that die at once
 * (datagrams handed to the socket) come from here: a received body that a peer could make us
 * keep would pin a whole slab.
 *
 * Slabs stay below glibc's 128 KiB mmap threshold on purpose. Freeing a larger, mmapped block
 * raises that threshold to its size; the long-lived key and replay slabs (traffic-keys.ts) then land
 * in the brk heap among short-lived buffers, which pins it: about 800 B of RSS per idle session
 * on a server with 10,000 of them, measured.
 */
const SLAB_BYTES = 64 * 1024;
/** Cuts start at 8-byte boundaries, as the pool's do. */
const ALIGN = 8;

let slab = new ArrayBuffer(0);
let used = 0;

export function allocFromSlab(length: number): Buffer {
  if (length > SLAB_BYTES / 4) return Buffer.allocUnsafe(length);
  if (used + length > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES);
    used = 0;
  }
  const buffer = Buffer.from(slab, used, length);
  used += (length + ALIGN - 1) & ~(ALIGN - 1);
  return buffer;
}
