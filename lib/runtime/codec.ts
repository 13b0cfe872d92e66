// The runtime's value codec: msgpack (msgpackr), the same settings as the store's default.
// The runtime opens its store with encoding 'binary' and encodes here itself, so that a
// slice's delta is a set of byte strings: comparing a field's bytes before and after the
// handler tells whether it changed, and the same bytes go to the commit without a second
// encode.
//
// Invariants:
// - encode() returns bytes the caller owns (msgpackr's result is a view of a buffer it
//   reuses, so it is copied).
// - Values that would not come back as they went in are refused with EENCODE: functions and
//   symbols at any depth (msgpackr silently drops a nested function), and undefined at the
//   top (a missing value is "absent", not a stored value).
import { Packr } from 'msgpackr'
import { limits } from '../addon.js'
import { describeValue, VedError } from '../errors.js'

const packr = new Packr({ useRecords: false, copyBuffers: true })

/** Nesting deeper than this is refused rather than walked (a cycle, or a structure no state needs). */
const DEPTH_MAX = 256

export function encode(value: unknown, what: string): Buffer {
  // Numbers, booleans and null skip msgpackr, whose per-call setup and the copy out of its
  // shared buffer cost more than these few bytes (a counter field is the common slice).
  if (typeof value === 'number') return encodeNumber(value)
  if (typeof value === 'boolean') return Buffer.from(value ? TRUE_BYTES : FALSE_BYTES)
  if (value === null) return Buffer.from(NULL_BYTES)
  if (value === undefined) throw new VedError('EENCODE', `${what} is undefined; a value must be encodable (delete a field or map entry instead)`)
  checkEncodable(value, what, 0)
  let bytes: Uint8Array
  try {
    bytes = packr.pack(value)
  } catch (error) {
    throw new VedError('EENCODE', `${what} cannot be encoded: ${(error as Error).message}`)
  }
  if (bytes.length > limits.valueSizeBytesMax) {
    throw new VedError('EVALUESIZE', `${what} is ${bytes.length} bytes encoded, the maximum is ${limits.valueSizeBytesMax}`)
  }
  return Buffer.from(bytes)
}

const TRUE_BYTES = [0xc3]
const FALSE_BYTES = [0xc2]
const NULL_BYTES = [0xc0]

/**
 * A number as msgpackr packs it with this Packr's options (useRecords false, no float32):
 * the same bytes, so a value encoded here compares equal to one msgpackr wrote (test/codec).
 */
export function encodeNumber(value: number): Buffer {
  let bytes: Buffer
  if (value >>> 0 === value) {
    // -0 lands here too and is written as 0, as msgpackr does.
    if (value < 0x80) {
      bytes = Buffer.allocUnsafe(1)
      bytes[0] = value
    } else if (value < 0x100) {
      bytes = Buffer.allocUnsafe(2)
      bytes[0] = 0xcc
      bytes[1] = value
    } else if (value < 0x10000) {
      bytes = Buffer.allocUnsafe(3)
      bytes[0] = 0xcd
      bytes.writeUInt16BE(value, 1)
    } else {
      bytes = Buffer.allocUnsafe(5)
      bytes[0] = 0xce
      bytes.writeUInt32BE(value, 1)
    }
  } else if (value >> 0 === value) {
    if (value >= -0x20) {
      bytes = Buffer.allocUnsafe(1)
      bytes[0] = 0x100 + value
    } else if (value >= -0x80) {
      bytes = Buffer.allocUnsafe(2)
      bytes[0] = 0xd0
      bytes[1] = value + 0x100
    } else if (value >= -0x8000) {
      bytes = Buffer.allocUnsafe(3)
      bytes[0] = 0xd1
      bytes.writeInt16BE(value, 1)
    } else {
      bytes = Buffer.allocUnsafe(5)
      bytes[0] = 0xd2
      bytes.writeInt32BE(value, 1)
    }
  } else {
    bytes = Buffer.allocUnsafe(9)
    bytes[0] = 0xcb
    bytes.writeDoubleBE(value, 1)
  }
  return bytes
}

export function decode(bytes: Uint8Array): unknown {
  return packr.unpack(bytes)
}

function checkEncodable(value: unknown, what: string, depth: number): void {
  const type = typeof value
  if (type === 'function' || type === 'symbol') throw new VedError('EENCODE', `${what} holds ${describeValue(value)}, which cannot be stored`)
  if (type !== 'object' || value === null) return
  if (depth > DEPTH_MAX) throw new VedError('EENCODE', `${what} is nested deeper than ${DEPTH_MAX} levels (a cycle?)`)
  if (ArrayBuffer.isView(value) || value instanceof Date) return
  if (Array.isArray(value)) {
    for (const item of value) checkEncodable(item, what, depth + 1)
    return
  }
  if (value instanceof Map) {
    for (const [k, v] of value) {
      checkEncodable(k, what, depth + 1)
      checkEncodable(v, what, depth + 1)
    }
    return
  }
  for (const key in value) checkEncodable((value as Record<string, unknown>)[key], what, depth + 1)
}
