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
