// Values: one codec per store encoding.
//
// Invariants:
// - encode never returns a view the caller must not keep: it returns either bytes to copy
//   right away (into a transaction's ops buffer) or a string to write as UTF-8.
// - decode reads `buf[start, end)` of the shared value buffer and returns something that owns
//   its memory (strings, parsed objects, copied Buffers): the shared buffer is overwritten by
//   the next read, so a view into it would change under the caller.
// - Anything that cannot be encoded is a VedError('EENCODE'); `undefined`, functions and
//   symbols are refused by every encoding because no encoding gives them back.
// - msgpack uses msgpackr without records (useRecords: false): each value is self-describing,
//   there is no shared structure table that would itself need persisting.
import { Packr } from 'msgpackr'
import { describeValue, VedError } from './errors.js'
import type { Encoding } from './options.js'

export interface ValueCodec {
  readonly encoding: Encoding
  /** The value's bytes (copy them before the next encode) or a string to store as UTF-8. */
  encode(value: unknown): Uint8Array | string
  /** Decodes the stored bytes buf[start, end) into a value owning its memory. */
  decode(buf: Buffer, start: number, end: number): unknown
}

export function createCodec(encoding: Encoding): ValueCodec {
  switch (encoding) {
    case 'msgpack':
      return new MsgpackCodec()
    case 'json':
      return jsonCodec
    case 'string':
      return stringCodec
    case 'binary':
      return binaryCodec
  }
}

function refuseUnencodable(value: unknown, encoding: Encoding): void {
  if (value === undefined) throw new VedError('EENCODE', `undefined cannot be stored (encoding '${encoding}'); use del() to remove a key`)
  if (typeof value === 'function' || typeof value === 'symbol') {
    throw new VedError('EENCODE', `${describeValue(value)} cannot be stored (encoding '${encoding}')`)
  }
}

class MsgpackCodec implements ValueCodec {
  readonly encoding = 'msgpack' as const
  // copyBuffers: decoded binary fields are copies, not views into the shared value buffer.
  readonly #packr = new Packr({ useRecords: false, copyBuffers: true })

  encode(value: unknown): Uint8Array {
    refuseUnencodable(value, 'msgpack')
    try {
      return this.#packr.pack(value)
    } catch (error) {
      throw encodeError('msgpack', error)
    }
  }

  decode(buf: Buffer, start: number, end: number): unknown {
    try {
      return this.#packr.unpack(buf, { start, end })
    } catch (error) {
      throw decodeError('msgpack', error)
    }
  }
}

const jsonCodec: ValueCodec = {
  encoding: 'json',
  encode(value: unknown): string {
    refuseUnencodable(value, 'json')
    let text: string | undefined
    try {
      text = JSON.stringify(value)
    } catch (error) {
      throw encodeError('json', error)
    }
    // JSON.stringify returns undefined for values it skips (e.g. an object with toJSON() returning undefined).
    if (text === undefined) throw new VedError('EENCODE', `${describeValue(value)} has no JSON representation`)
    return text
  },
  decode(buf: Buffer, start: number, end: number): unknown {
    try {
      return JSON.parse(buf.toString('utf8', start, end))
    } catch (error) {
      throw decodeError('json', error)
    }
  },
}

const stringCodec: ValueCodec = {
  encoding: 'string',
  encode(value: unknown): string {
    if (typeof value !== 'string') {
      throw new VedError('EENCODE', `encoding 'string' stores strings only, got ${describeValue(value)}`)
    }
    if (!value.isWellFormed()) throw new VedError('EENCODE', 'a string value must not contain lone surrogates')
    return value
  },
  decode(buf: Buffer, start: number, end: number): string {
    return buf.toString('utf8', start, end)
  },
}

const binaryCodec: ValueCodec = {
  encoding: 'binary',
  encode(value: unknown): Uint8Array {
    if (!(value instanceof Uint8Array)) {
      throw new VedError('EENCODE', `encoding 'binary' stores Uint8Arrays (or Buffers) only, got ${describeValue(value)}`)
    }
    return value
  },
  decode(buf: Buffer, start: number, end: number): Buffer {
    // Buffer.from(view) copies; the result never aliases the shared value buffer.
    return Buffer.from(buf.subarray(start, end))
  },
}

function encodeError(encoding: Encoding, cause: unknown): VedError {
  const reason = cause instanceof Error ? cause.message : String(cause)
  const error = new VedError('EENCODE', `value cannot be encoded as ${encoding}: ${reason}`)
  error.cause = cause
  return error
}

function decodeError(encoding: Encoding, cause: unknown): VedError {
  const reason = cause instanceof Error ? cause.message : String(cause)
  const error = new VedError('EENCODE', `stored value cannot be decoded as ${encoding} (was it written with another encoding?): ${reason}`)
  error.cause = cause
  return error
}
