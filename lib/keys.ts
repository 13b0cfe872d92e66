// Keys: strings or byte arrays, stored as their bytes and ordered by memcmp.
//
// Invariants:
// - A string key is stored as its UTF-8 bytes, a byte key as its bytes; nothing is added,
//   so the byte order the native tree keeps is the order users see, and the string "a" and
//   the bytes [0x61] are the same key.
// - A stored key is never empty and never longer than limits.keySizeBytesMax (EKEYSIZE).
// - A string key must be well-formed UTF-16 (no lone surrogates): UTF-8 cannot carry a lone
//   surrogate, two different strings would collapse onto one key (EENCODE).
// - In a store with keyEncoding 'string', getRange decodes keys as UTF-8, so a byte key
//   written to it must be valid UTF-8 (EENCODE otherwise); reading with any byte key works.
import { isUtf8 } from 'node:buffer'
import { limits } from './addon.js'
import { describeValue, VedError } from './errors.js'
import type { KeyEncoding } from './options.js'

/** A key as users pass it. */
export type Key = string | Uint8Array

declare global {
  interface String {
    /** ES2024; present in Node 20 and later. */
    isWellFormed(): boolean
  }
}

/**
 * Writes `key` at `offset` in `buf` and returns its length in bytes. `buf` must have room for
 * limits.keySizeBytesMax bytes at `offset`. `mustDecode` asks that byte keys be valid UTF-8
 * (writes to a store whose keyEncoding is 'string').
 */
export function writeKey(buf: Buffer, offset: number, key: unknown, mustDecode: boolean): number {
  if (typeof key === 'string') return writeStringKey(buf, offset, key)
  if (key instanceof Uint8Array) return writeBytesKey(buf, offset, key, mustDecode)
  throw new VedError('EINVAL', `a key must be a string or a Uint8Array, got ${describeValue(key)}`)
}

/**
 * Keys up to this many UTF-16 units are tried as ASCII first, unit by unit: V8's UTF-8 writer
 * was 8% of a perf profile of random gets (row a's workload, 13-byte keys), and for short
 * keys a JS loop costs about half as much (a node -e loop writing 2M such keys, 2026-12-04:
 * 33-60 ns against 80-190 ns for Buffer.write plus isWellFormed).
 */
const ASCII_KEY_UNITS_MAX = 64

function writeStringKey(buf: Buffer, offset: number, key: string): number {
  const keySizeBytesMax = limits.keySizeBytesMax
  const length = key.length
  if (length === 0) throw new VedError('EKEYSIZE', 'a key must not be empty')
  // Each UTF-16 unit becomes at least one UTF-8 byte, so a string this long cannot fit.
  if (length > keySizeBytesMax) throw keyTooLong(length)
  if (length <= ASCII_KEY_UNITS_MAX) {
    // ASCII is its own UTF-8 and always well-formed; the first other unit sends the key
    // down the general path, which rewrites it whole.
    let i = 0
    while (i < length) {
      const unit = key.charCodeAt(i)
      if (unit >= 0x80) break
      buf[offset + i] = unit
      i++
    }
    if (i === length) return length
  }
  if (!key.isWellFormed()) throw new VedError('EENCODE', 'a string key must not contain lone surrogates')
  // At most 3 UTF-8 bytes per UTF-16 unit: short strings skip the byte count.
  if (key.length * 3 > keySizeBytesMax) {
    const keySizeBytes = Buffer.byteLength(key, 'utf8')
    if (keySizeBytes > keySizeBytesMax) throw keyTooLong(keySizeBytes)
  }
  return buf.write(key, offset, 'utf8')
}

function writeBytesKey(buf: Buffer, offset: number, key: Uint8Array, mustDecode: boolean): number {
  if (key.length === 0) throw new VedError('EKEYSIZE', 'a key must not be empty')
  if (key.length > limits.keySizeBytesMax) throw keyTooLong(key.length)
  if (mustDecode && !isUtf8(key)) {
    throw new VedError(
      'EENCODE',
      "a byte key that is not valid UTF-8 cannot be written to a store with keyEncoding 'string'; open it with keyEncoding: 'binary'",
    )
  }
  buf.set(key, offset)
  return key.length
}

function keyTooLong(keySizeBytes: number): VedError {
  return new VedError('EKEYSIZE', `key is ${keySizeBytes} bytes, the maximum is ${limits.keySizeBytesMax}`)
}

/** Reads a key stored in `buf[start, end)` as the kind keyEncoding asks for (a copy, never a view). */
export function readKey(buf: Buffer, start: number, end: number, keyEncoding: KeyEncoding): string | Buffer {
  if (keyEncoding === 'string') return buf.toString('utf8', start, end)
  return Buffer.from(buf.subarray(start, end))
}
