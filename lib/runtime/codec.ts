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

/** A msgpack number is at most 9 bytes (a float64 and its marker). */
const numberScratch = Buffer.allocUnsafeSlow(9)

/**
 * A number as msgpackr packs it with this Packr's options (useRecords false, no float32):
 * the same bytes, so a value encoded here compares equal to one msgpackr wrote (test/runtime.test.ts checks it).
 */
export function encodeNumber(value: number): Buffer {
  const end = writeNumber(numberScratch, 0, value)
  // A byte loop: Buffer.from(subarray) more than doubled the cost of this function (a loop of
  // 3M calls, node -e, 2026-12-04: 114 against 52 ns per number).
  const bytes = Buffer.allocUnsafe(end)
  for (let i = 0; i < end; i++) bytes[i] = numberScratch[i]!
  return bytes
}

/** Writes `value` into `target` at `offset` as msgpackr would; returns the offset after it. */
function writeNumber(target: Buffer, offset: number, value: number): number {
  if (value >>> 0 === value) {
    if (value < 0x80) {
      target[offset] = value
      return offset + 1
    }
    if (value < 0x100) {
      target[offset] = 0xcc
      target[offset + 1] = value
      return offset + 2
    }
    if (value < 0x10000) {
      target[offset] = 0xcd
      return target.writeUInt16BE(value, offset + 1)
    }
    target[offset] = 0xce
    return target.writeUInt32BE(value, offset + 1)
  }
  if (value >> 0 === value) {
    if (value >= -0x20) {
      target[offset] = 0x100 + value
      return offset + 1
    }
    if (value >= -0x80) {
      target[offset] = 0xd0
      target[offset + 1] = value + 0x100
      return offset + 2
    }
    if (value >= -0x8000) {
      target[offset] = 0xd1
      return target.writeInt16BE(value, offset + 1)
    }
    target[offset] = 0xd2
    return target.writeInt32BE(value, offset + 1)
  }
  target[offset] = 0xcb
  return target.writeDoubleBE(value, offset + 1)
}

/**
 * Scratch space of encodeCounts: a map of short keys to numbers, plain objects of numbers
 * and arrays of numbers, the shape of a domain's meta. What does not fit here goes to msgpackr.
 */
const COUNTS_SCRATCH_BYTES = 4096
/** Room a value may need past the scratch's fill check: a number (9 bytes) or a container header (3). */
const COUNTS_VALUE_BYTES_MAX = 9
/** A key of up to this many UTF-8 bytes fits a fixstr (one header byte); longer keys go to msgpackr. */
const FIXSTR_BYTES_MAX = 31
const countsScratch = Buffer.allocUnsafeSlow(COUNTS_SCRATCH_BYTES)

/**
 * Encodes a small record of counts (a domain's meta: numbers, maps of numbers, arrays of
 * numbers; an undefined property is left out) without msgpackr, whose per-call setup cost
 * more than the record. Anything else, or anything bigger, is encoded by msgpackr: both are
 * msgpack, and decode() reads either.
 */
export function encodeCounts(record: Record<string, unknown>, what: string): Buffer {
  const end = writeCounts(countsScratch, 0, record, 0)
  if (end < 0) return encode(record, what)
  const bytes = Buffer.allocUnsafe(end)
  countsScratch.copy(bytes, 0, 0, end)
  return bytes
}

/** Writes `record` at `offset`; returns the end, or -1 when it does not fit this encoder. */
function writeCounts(target: Buffer, offset: number, record: Record<string, unknown>, depth: number): number {
  let count = 0
  for (const key in record) if (record[key] !== undefined) count++
  if (count > 15) return -1
  target[offset++] = 0x80 | count
  for (const key in record) {
    const value = record[key]
    if (value === undefined) continue
    if (offset + 1 + key.length * 3 + COUNTS_VALUE_BYTES_MAX > COUNTS_SCRATCH_BYTES) return -1
    const keyBytes = target.write(key, offset + 1, 'utf8')
    if (keyBytes > FIXSTR_BYTES_MAX) return -1
    target[offset] = 0xa0 | keyBytes
    offset += 1 + keyBytes
    if (typeof value === 'number') {
      offset = writeNumber(target, offset, value)
    } else if (Array.isArray(value)) {
      if (value.length > 15 || offset + 1 + value.length * COUNTS_VALUE_BYTES_MAX > COUNTS_SCRATCH_BYTES) return -1
      target[offset++] = 0x90 | value.length
      for (const item of value) {
        if (typeof item !== 'number') return -1
        offset = writeNumber(target, offset, item)
      }
    } else if (depth === 0 && typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
      offset = writeCounts(target, offset, value as Record<string, unknown>, 1)
      if (offset < 0) return -1
    } else {
      return -1
    }
  }
  return offset
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
