// The stored form of a journal entry and of an effect's index record, and their encoding.
//
// Entries are written on the slice path, one per slice, so they hold bytes the slice already
// has (payload, reply, the before and after bytes of each change) rather than decoded
// values, in a fixed binary layout rather than msgpack, whose per-call setup was the largest
// part of recording (docs/design.md, "A binary entry layout"). Small records (an effect's
// `x` key, an entry's error) use the runtime's codec. The layout (docs/format.md) starts with a header that compaction and lineage lookups decode
// alone; the rest is read only when a query shows the entry.
//
// Invariants:
// - decodeEntry(encodeEntry(e)) gives e back (as tuples, values null when omitted); the first byte is ENTRY_FORMAT and anything else
//   is refused (a newer format) rather than misread.
// - Byte fields decode as views of the bytes read; callers decode them at once or copy.
import { VedError } from '../errors.js'
import { decode, encode } from '../runtime/codec.js'


/**
 * Version of the entry layout below. 2: counts and lengths are varints (a length as length + 1,
 * 0 for null); 1 (still read): u32s, 0xffffffff for null. A bump entry went from about 105
 * to 63 bytes: its fifteen or so lengths and counts were 4 bytes each and are 1.
 */
const ENTRY_FORMAT = 2
const ENTRY_FORMAT_U32 = 1
/** A null string or byte field in format 1: a length no real field has. */
const NULL_LENGTH = 0xffffffff
const FLAG_LOCATOR = 1
const FLAG_OMITTED = 2
/** The root is the intent itself (an external send): not written twice. */
const FLAG_ROOT_IS_INTENT = 4
const FLAG_EFFECTS = 8

/** One slice. Short property names: there is one of these per slice, kept by the thousand. */
export interface StoredEntry {
  /** ctx.now of the slice. */
  at: number
  /** Intent id, type, encoded payload, causedBy, root, sending domain. */
  i: string
  y: string
  p: Uint8Array | null
  c: string | null
  r: string
  f: [string, string] | null
  /** Changes: [path (`field` or `field\0entry`), before, after]; null = absent. Undo in reverse order. */
  ch: Array<[string, Uint8Array | null, Uint8Array | null]>
  /** Effects emitted: [id, name, payload, attempt]. */
  fx: Array<[string, string, Uint8Array | null, number]>
  /** Messages sent: [id, domain, key, type]. */
  ms: Array<[string, string, string, string]>
  /** Timers set: [id, type, due]. */
  tm: Array<[string, string, number]>
  /** Timer ids cancelled. */
  cx: string[]
  /** Encoded reply, null for none. */
  rp: Uint8Array | null
  er: { name: string; message: string; code?: string } | null
  /** [from, to] definition versions when a migration ran before the handler. */
  mg: [number, number] | null
  /** The slice's values (payloads, reply, before/after) were too big to keep: all are null. */
  o: boolean
}

/** What compaction and lineage lookups need of an entry, decodable without the rest. */
export interface EntryHeader {
  at: number
  i: string
  c: string | null
  r: string
  /** Ids of the effects emitted. */
  fx: string[]
  /** The intent has an `l` key (a send that carried its own id). */
  l: boolean
  /** The values were omitted (StoredEntry.o). */
  o: boolean
}

/** `x<effect id>`: where an effect was (last) emitted and how it settled. */
export interface StoredEffect {
  /** Domain name and key, the emitting slice and intent. */
  d: [string, string]
  s: number
  i: string
  /** Current attempt. */
  a: number
  /** Outcome of the current attempt: [ok, slice that settled it], null while pending. */
  o: [boolean, number] | null
}

/**
 * What the writer keeps per domain, inside the runtime's meta: [first, count, bytes, oldestAt,
 * kept, head]. `head` is the seq of the domain's newest time batch (absent in metas written
 * before the time region existed).
 */
export type JournalMeta = [first: number, count: number, bytes: number, oldestAt: number, kept: number, head?: number]


// ---- the entry layout -------------------------------------------------------------------------
//
//   u8 format | u8 flags (1: has l key, 2: values omitted, 4: root = i, 8: has effects) | f64 at
//   str i | str? c | [str r, unless flag 4] | u32 n, n x str fx id
//   ---- header ends ----
//   str y | bytes? p | u8 has from [str domain, str key] | u32 n, n x [str path, bytes? before, bytes? after]
//   fx x [str name, bytes? payload, u32 attempt] | u32 n, n x [str id, str domain, str key, str type]
//   u32 n, n x [str id, str type, f64 due] | u32 n, n x str cancelled | bytes? reply
//   bytes? error (msgpack) | u8 has migration [u32 from, u32 to]
//
// u32 here: a varint (LEB128, 1 byte below 128). str / bytes: a varint of length + 1 (0 for
// null) then UTF-8 / raw bytes. f64: little-endian. Format 1 had fixed u32s and NULL_LENGTH.

/** Buffer#utf8Write: Buffer#write without its argument handling (Node has had it since v0.x). */
interface Utf8Writer {
  utf8Write(value: string, offset: number): number
}

/** A string this short takes at most 126 UTF-8 bytes (3 per UTF-16 unit), so its varint length is 1 byte. */
const SHORT_STRING_UNITS_MAX = 42
/** Byte fields up to this long are copied by a loop (a native copy's call costs more). */
const SHORT_BYTES_MAX = 32
/** Runs of entries up to this long are copied into their batch by a loop, for the same reason (a bump entry is about 60 bytes). */
const SHORT_ENTRY_BYTES_MAX = 256

/** Writes an ASCII string at `offset` and returns the end; -1 (having written part of it) when it is not ASCII. */
function writeAscii(target: Buffer, offset: number, value: string): number {
  const units = value.length
  for (let k = 0; k < units; k++) {
    const unit = value.charCodeAt(k)
    if (unit >= 0x80) return -1
    target[offset + k] = unit
  }
  return offset + units
}

/** What an EntryBuffer starts with, and goes back to once emptied (release). */
const ENTRY_BUFFER_BYTES = 64 * 1024
/** An emptied EntryBuffer keeps up to this many bytes; a bigger one (a drain of big slices) is released. */
const ENTRY_BUFFER_KEPT_BYTES_MAX = 4 * 1024 * 1024

/**
 * Entries encoded back to back into one growing buffer: the writer's buffer of a drain (one
 * allocation for every entry of the drain, no Buffer per entry), and encodeEntry's scratch.
 * Grown when an entry needs more; shrunk back by release() once past ENTRY_BUFFER_KEPT_BYTES_MAX.
 */
export class EntryBuffer {
  bytes = Buffer.allocUnsafe(ENTRY_BUFFER_BYTES)
  offset = 0

  /** Empties the buffer, dropping its memory if a drain of big slices grew it. */
  release(): void {
    this.offset = 0
    if (this.bytes.length > ENTRY_BUFFER_KEPT_BYTES_MAX) this.bytes = Buffer.allocUnsafe(ENTRY_BUFFER_BYTES)
  }

  reserve(bytes: number): void {
    if (this.offset + bytes <= this.bytes.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.offset + bytes))
    this.bytes.copy(grown, 0, 0, this.offset)
    this.bytes = grown
  }

  u8(value: number): void {
    this.reserve(1)
    this.bytes[this.offset++] = value
  }

  u32(value: number): void {
    this.reserve(5)
    let rest = value >>> 0
    while (rest >= 0x80) {
      this.bytes[this.offset++] = (rest & 0x7f) | 0x80
      rest >>>= 7
    }
    this.bytes[this.offset++] = rest
  }

  f64(value: number): void {
    this.reserve(8)
    this.bytes.writeDoubleLE(value, this.offset)
    this.offset += 8
  }

  str(value: string | null): void {
    if (value === null) return this.u32(0)
    const units = value.length
    if (units <= SHORT_STRING_UNITS_MAX) {
      // Ids, types and paths are short and nearly always ASCII: copied by a loop after a
      // 1-byte length (a native write per string cost more than these few bytes).
      this.reserve(1 + 3 * units)
      const end = writeAscii(this.bytes, this.offset + 1, value)
      if (end >= 0) {
        this.bytes[this.offset] = units + 1
        this.offset = end
        return
      }
      const length = (this.bytes as unknown as Utf8Writer).utf8Write(value, this.offset + 1)
      this.bytes[this.offset] = length + 1
      this.offset += 1 + length
      return
    }
    const length = Buffer.byteLength(value, 'utf8')
    this.u32(length + 1)
    this.reserve(length)
    this.offset += this.bytes.write(value, this.offset, 'utf8')
  }

  bytesField(value: Uint8Array | null): void {
    if (value === null) return this.u32(0)
    const length = value.length
    this.u32(length + 1)
    this.reserve(length)
    // Most values are a few bytes (a counter's before and after): a loop beats a native copy there.
    if (length <= SHORT_BYTES_MAX) for (let k = 0; k < length; k++) this.bytes[this.offset + k] = value[k]!
    else this.bytes.set(value, this.offset)
    this.offset += length
  }
}

class Reader {
  offset = 0
  /** Format 1: fixed u32s (set by readHeader from the format byte). */
  fixed = false
  readonly #bytes: Buffer

  constructor(bytes: Uint8Array) {
    this.#bytes = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  u8(): number {
    this.#need(1)
    return this.#bytes[this.offset++]!
  }

  u32(): number {
    if (this.fixed) {
      this.#need(4)
      const value = this.#bytes.readUInt32LE(this.offset)
      this.offset += 4
      return value
    }
    let value = 0
    for (let shift = 0; shift < 35; shift += 7) {
      this.#need(1)
      const byte = this.#bytes[this.offset++]!
      value += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) return value
    }
    throw corrupt('a varint is longer than 5 bytes')
  }

  /** A str or bytes length; null for a null field. */
  #length(): number | null {
    const value = this.u32()
    if (this.fixed) return value === NULL_LENGTH ? null : value
    return value === 0 ? null : value - 1
  }

  f64(): number {
    this.#need(8)
    const value = this.#bytes.readDoubleLE(this.offset)
    this.offset += 8
    return value
  }

  str(): string | null {
    const length = this.#length()
    if (length === null) return null
    this.#need(length)
    const value = this.#bytes.toString('utf8', this.offset, this.offset + length)
    this.offset += length
    return value
  }

  text(): string {
    const value = this.str()
    if (value === null) throw corrupt('a required string is null')
    return value
  }

  bytes(): Uint8Array | null {
    const length = this.#length()
    if (length === null) return null
    this.#need(length)
    const value = this.#bytes.subarray(this.offset, this.offset + length)
    this.offset += length
    return value
  }

  #need(bytes: number): void {
    if (this.offset + bytes > this.#bytes.length) throw corrupt('it ends early')
  }
}

/** What encodeEntry takes: a slice's parts as the runtime has them (no tuples built for the encode). */
export interface EntryInput {
  at: number
  i: string
  y: string
  p: Uint8Array | null
  c: string | null
  r: string
  from: { readonly domain: string; readonly key: string } | null
  ch: ReadonlyArray<readonly [string, Uint8Array | null, Uint8Array | null]>
  fx: ReadonlyArray<{ readonly id: string; readonly effect: string; readonly payload: Uint8Array | null; readonly attempt: number }>
  ms: ReadonlyArray<{ readonly id: string; readonly domain: string; readonly key: string; readonly type: string }>
  tm: ReadonlyArray<{ readonly id: string; readonly type: string; readonly due: number }>
  cx: readonly string[]
  rp: Uint8Array | null
  er: StoredEntry['er']
  mg: readonly [number, number] | null
  /** Drop the values (payloads, reply, before/after): StoredEntry.o. */
  o: boolean
  /** The intent has an `l` key. */
  l: boolean
}

/** encodeEntry's buffer: reused by every call. */
const scratch = new EntryBuffer()

/** One entry as a Buffer of its own (the writer appends to its drain's EntryBuffer instead). */
export function encodeEntry(entry: EntryInput): Buffer {
  scratch.offset = 0
  writeEntry(scratch, entry)
  const bytes = Buffer.from(scratch.bytes.subarray(0, scratch.offset))
  scratch.release()
  return bytes
}

function writeEntry(w: EntryBuffer, entry: EntryInput): void {
  const omit = entry.o
  const rootIsIntent = entry.r === entry.i
  w.u8(ENTRY_FORMAT)
  w.u8((entry.l ? FLAG_LOCATOR : 0) | (omit ? FLAG_OMITTED : 0) | (rootIsIntent ? FLAG_ROOT_IS_INTENT : 0) | (entry.fx.length > 0 ? FLAG_EFFECTS : 0))
  w.f64(entry.at)
  w.str(entry.i)
  w.str(entry.c)
  if (!rootIsIntent) w.str(entry.r)
  // Indexed loops throughout: most of these lists are the runtime's shared frozen empty array,
  // and for-of over them cost more (node bench/journal-encode.js, commit 4dfe572).
  const fx = entry.fx
  w.u32(fx.length)
  for (let k = 0; k < fx.length; k++) w.str(fx[k]!.id)
  w.str(entry.y)
  w.bytesField(omit ? null : entry.p)
  w.u8(entry.from === null ? 0 : 1)
  if (entry.from !== null) {
    w.str(entry.from.domain)
    w.str(entry.from.key)
  }
  const ch = entry.ch
  w.u32(ch.length)
  for (let k = 0; k < ch.length; k++) {
    const change = ch[k]!
    w.str(change[0])
    w.bytesField(omit ? null : change[1])
    w.bytesField(omit ? null : change[2])
  }
  for (let k = 0; k < fx.length; k++) {
    const effect = fx[k]!
    w.str(effect.effect)
    w.bytesField(omit ? null : effect.payload)
    w.u32(effect.attempt)
  }
  const ms = entry.ms
  w.u32(ms.length)
  for (let k = 0; k < ms.length; k++) {
    const message = ms[k]!
    w.str(message.id)
    w.str(message.domain)
    w.str(message.key)
    w.str(message.type)
  }
  const tm = entry.tm
  w.u32(tm.length)
  for (let k = 0; k < tm.length; k++) {
    const timer = tm[k]!
    w.str(timer.id)
    w.str(timer.type)
    w.f64(timer.due)
  }
  const cx = entry.cx
  w.u32(cx.length)
  for (let k = 0; k < cx.length; k++) w.str(cx[k]!)
  w.bytesField(omit ? null : entry.rp)
  w.bytesField(entry.er === null ? null : encode(entry.er, 'a journal entry\'s error'))
  w.u8(entry.mg === null ? 0 : 1)
  if (entry.mg !== null) {
    w.u32(entry.mg[0])
    w.u32(entry.mg[1])
  }
}

function readHeader(r: Reader): EntryHeader {
  const format = r.u8()
  if (format !== ENTRY_FORMAT && format !== ENTRY_FORMAT_U32) {
    throw new VedError('EFORMAT', `a journal entry has format ${format}; this version reads formats ${ENTRY_FORMAT_U32} and ${ENTRY_FORMAT}`)
  }
  r.fixed = format === ENTRY_FORMAT_U32
  const flags = r.u8()
  const at = r.f64()
  const i = r.text()
  const c = r.str()
  const root = (flags & FLAG_ROOT_IS_INTENT) !== 0 ? i : r.text()
  const fx: string[] = []
  for (let n = r.u32(); n > 0; n--) fx.push(r.text())
  return { at, i, c, r: root, fx, l: (flags & FLAG_LOCATOR) !== 0, o: (flags & FLAG_OMITTED) !== 0 }
}

/**
 * What compaction reads of an entry before deciding whether it needs the header: the time,
 * and whether deleting it also deletes index keys (an `l` key, effect keys). Fixed offsets.
 */
export function peekEntry(entry: Buffer): { at: number; indexed: boolean } {
  // Checked first: the time is read only from a header known to hold it.
  const indexed = !isPlainEntry(entry, 0, entry.length)
  return { at: entry.readDoubleLE(2), indexed }
}

/**
 * Whether the entry at [offset, offset + length) of `bytes` owns no index key (no `l` key, no
 * effects), after checking that it starts with a format, flags and its time (ECORRUPT if not).
 */
function isPlainEntry(bytes: Buffer, offset: number, length: number): boolean {
  if (length < 10 || (bytes[offset] !== ENTRY_FORMAT && bytes[offset] !== ENTRY_FORMAT_U32)) throw corrupt('its header is short or of another format')
  return (bytes[offset + 1]! & (FLAG_LOCATOR | FLAG_EFFECTS)) === 0
}

/**
 * What compaction needs to drop entries [from, to) of a batch at once, when none of them owns
 * an index key (so none needs decoding; null when one does): their total length, and the time
 * of the oldest entry left (the one at `to`), or of the last dropped when none is left.
 */
export interface PlainRange {
  bytes: number
  oldestAt: number
}

function plainEntries(entries: readonly Buffer[], from: number, to: number): PlainRange | null {
  let bytes = 0
  for (let k = from; k < to; k++) {
    const entry = entries[k]!
    if (!isPlainEntry(entry, 0, entry.length)) return null
    bytes += entry.length
  }
  const oldest = to < entries.length ? entries[to]! : entries[to - 1]!
  if (to < entries.length) isPlainEntry(oldest, 0, oldest.length) // for its check that the header holds a time
  return { bytes, oldestAt: oldest.readDoubleLE(2) }
}

export function decodeHeader(bytes: Uint8Array): EntryHeader {
  return readHeader(new Reader(bytes))
}

export function decodeEntry(bytes: Uint8Array): StoredEntry {
  const r = new Reader(bytes)
  const header = readHeader(r)
  const y = r.text()
  const p = r.bytes()
  const f: [string, string] | null = r.u8() === 1 ? [r.text(), r.text()] : null
  const ch: StoredEntry['ch'] = []
  for (let n = r.u32(); n > 0; n--) ch.push([r.text(), r.bytes(), r.bytes()])
  const fx: StoredEntry['fx'] = header.fx.map((id) => [id, r.text(), r.bytes(), r.u32()])
  const ms: StoredEntry['ms'] = []
  for (let n = r.u32(); n > 0; n--) ms.push([r.text(), r.text(), r.text(), r.text()])
  const tm: StoredEntry['tm'] = []
  for (let n = r.u32(); n > 0; n--) tm.push([r.text(), r.text(), r.f64()])
  const cx: string[] = []
  for (let n = r.u32(); n > 0; n--) cx.push(r.text())
  const rp = r.bytes()
  const errorBytes = r.bytes()
  const er = errorBytes === null ? null : decodeError(errorBytes)
  const mg: [number, number] | null = r.u8() === 1 ? [r.u32(), r.u32()] : null
  return { at: header.at, i: header.i, y, p, c: header.c, r: header.r, f, ch, fx, ms, tm, cx, rp, er, mg, o: header.o }
}

/**
 * Bytes an entry is accounted for: its key and value plus the `l` key and effect keys it
 * owns. The same figure at record and at deletion, from what the header holds.
 */
export function accountedBytes(entryKeyLength: number, entryValueLength: number, intentId: string, root: string, locator: boolean, effectIds: readonly string[], idLength: number): number {
  let bytes = entryKeyLength + entryValueLength
  if (locator) bytes += locatorAccountedBytes(intentId, idLength)
  for (const effectId of effectIds) bytes += effectAccountedBytes(effectId, root, idLength)
  return bytes
}

/** The part of accountedBytes for an entry's `l` key. */
export function locatorAccountedBytes(intentId: string, idLength: number): number {
  return 2 + intentId.length + idLength + 14
}

/** The part of accountedBytes for one effect the entry emitted (its `x` and `u` keys). */
export function effectAccountedBytes(effectId: string, root: string, idLength: number): number {
  return 2 * effectId.length + root.length + idLength + 26
}

/** The msgpack of a failed slice's error; damaged bytes give ECORRUPT like the rest of the entry. */
function decodeError(bytes: Uint8Array): StoredEntry['er'] {
  try {
    return decode(bytes) as StoredEntry['er']
  } catch (error) {
    throw corrupt(`its error does not decode (${(error as Error).message})`)
  }
}

function corrupt(detail: string): VedError {
  return new VedError('ECORRUPT', `a journal entry cannot be read: ${detail}`)
}

// ---- batches ----------------------------------------------------------------------------------
//
// Entries are stored in batches: a domain-region batch holds one domain's entries of slices
// first, first + 1, ..., first + n - 1; a time batch holds everything one drain recorded, a
// segment per domain, so that a drain of many domains costs one engine key (and later one
// delete) instead of one per domain.
//
//   domain region `e<id>\0<first>`:  u8 1 | u32 n | n x [u32 length, entry]
//   time region   `e\0<seq>`:         u8 3 | v segments | segments x segment
//     segment:                        v id length | id | v first | v prev + 1 | v n | v body length
//                                     | body: n x [v length, entry]
//
// (v: a varint, LEB128, as in entries.) Format 2, a time batch of one domain (u8 2 | v id length
// | id | v first | v prev + 1 | v n | n x [v length, entry]), is still read, as one segment.
//
// A segment names its domain and first slice (the key names neither) and `prev`, the seq of
// the time batch holding the domain's previous segment (-1: none), so a domain's segments form
// a chain back from the seq its meta holds. `body length` lets a reader skip other domains'
// segments without splitting their entries.

const BATCH_FORMAT = 1
const CHAIN_FORMAT = 2
const TIME_FORMAT = 3

/** What a time segment says about itself. */
export interface ChainHeader {
  /** The domain id `<name>\0<key>`. */
  readonly id: string
  readonly first: number
  /** Seq of the time batch holding the domain's previous segment, -1 for none. */
  readonly prev: number
}

/** One domain's entries in a time batch, as views of the batch's bytes. */
export interface TimeSegment extends ChainHeader {
  readonly count: number
  readonly entries: Buffer[]
}

/**
 * A segment as read from a stored time batch. Its entries are split into views only when asked
 * for: compaction drops most entries without one (plainRange), and without a view per entry its
 * steps took a fifth less time (docs/design.md, "A whole batch is dropped from its bytes").
 */
class StoredSegment implements TimeSegment {
  readonly id: string
  readonly first: number
  readonly prev: number
  readonly count: number
  readonly #batch: Buffer
  readonly #start: number
  readonly #end: number
  #entries: Buffer[] | null = null

  constructor(header: ChainHeader, batch: Buffer, start: number, count: number, end: number) {
    this.id = header.id
    this.first = header.first
    this.prev = header.prev
    this.count = count
    this.#batch = batch
    this.#start = start
    this.#end = end
  }

  get entries(): Buffer[] {
    if (this.#entries === null) this.#entries = splitEntries(this.#batch, this.#start, this.count, this.#end)
    return this.#entries
  }

  /** plainEntries over the stored bytes, without a view per entry. */
  plainRange(from: number, to: number): PlainRange | null {
    if (this.#entries !== null) return plainEntries(this.#entries, from, to)
    const batch = this.#batch
    let bytes = 0
    let oldestStart = -1
    let plain = true
    walkEntries(batch, this.#start, this.count, this.#end, (entryStart, length, index) => {
      if (index < from) return true
      // The entry at `to` is only read for its time (or the last one, when `to` is the end).
      oldestStart = entryStart
      if (index === to) {
        isPlainEntry(batch, entryStart, length) // for its check that the header holds a time
        return false
      }
      plain = isPlainEntry(batch, entryStart, length)
      bytes += length
      return plain
    })
    if (!plain || oldestStart < 0) return null
    return { bytes, oldestAt: batch.readDoubleLE(oldestStart + 2) }
  }
}

/**
 * Entries [from, to) of a batch, for compaction dropping them at once (PlainRange): from the
 * stored bytes when the batch is a stored time segment whose entries were never split.
 */
export function plainRange(batch: { readonly segment?: TimeSegment; readonly entries: readonly Buffer[] }, from: number, to: number): PlainRange | null {
  if (batch.segment instanceof StoredSegment) return batch.segment.plainRange(from, to)
  return plainEntries(batch.entries, from, to)
}

export function encodeBatch(entries: readonly Uint8Array[]): Buffer {
  let bytes = 5
  for (const entry of entries) bytes += 4 + entry.length
  const batch = Buffer.allocUnsafe(bytes)
  batch[0] = BATCH_FORMAT
  batch.writeUInt32LE(entries.length, 1)
  let offset = 5
  for (const entry of entries) {
    batch.writeUInt32LE(entry.length, offset)
    batch.set(entry, offset + 4)
    offset += 4 + entry.length
  }
  return batch
}

/** A time batch of segments whose entries are Buffers (compaction writing a batch again). */
export function encodeTimeBatch(segments: readonly TimeSegment[]): Buffer {
  let bytes = 1 + varintBytes(segments.length)
  const bodies: number[] = []
  const idLengths: number[] = []
  for (const segment of segments) {
    let body = 0
    for (const entry of segment.entries) body += varintBytes(entry.length) + entry.length
    const idLength = Buffer.byteLength(segment.id, 'utf8')
    bodies.push(body)
    idLengths.push(idLength)
    bytes += segmentHeaderBytes(idLength, segment.first, segment.prev, segment.entries.length, body) + body
  }
  const batch = Buffer.allocUnsafe(bytes)
  batch[0] = TIME_FORMAT
  let offset = writeVarint(batch, 1, segments.length)
  segments.forEach((segment, i) => {
    offset = writeSegmentHeader(batch, offset, segment.id, idLengths[i]!, segment.first, segment.prev, segment.entries.length, bodies[i]!)
    for (const entry of segment.entries) {
      offset = writeVarint(batch, offset, entry.length)
      batch.set(entry, offset)
      offset += entry.length
    }
  })
  return checkLength(batch, offset)
}

/**
 * The time batch of one drain as the writer fills it: entries appended back to back to one
 * EntryBuffer, each linked to its domain's segment, and laid out by segment only by encode().
 * Its arrays are reused from drain to drain, so recording an entry allocates nothing: an
 * object per segment, alive until the seal, was the writer's largest cost with 10,000 domains
 * (each slice opens a segment there).
 */
export class DrainBatch {
  readonly entries = new EntryBuffer()
  /** Segments opened since the last reset. */
  segments = 0
  readonly #ids: string[] = []
  readonly #firsts: number[] = []
  readonly #prevs: number[] = []
  /** Index of each segment's first and last entry, and its entry count. */
  readonly #heads: number[] = []
  readonly #tails: number[] = []
  readonly #counts: number[] = []
  #entryCount = 0
  /** Each entry's bytes in `entries` with its length before them, [start, end), and the index of its segment's next entry (-1: none). */
  readonly #starts: number[] = []
  readonly #ends: number[] = []
  readonly #nexts: number[] = []

  /** Opens the segment of domain `id`, first slice `first`, chained to the batch of seq `prev`; returns its index. */
  open(id: string, first: number, prev: number): number {
    const segment = this.segments++
    this.#ids[segment] = id
    this.#firsts[segment] = first
    this.#prevs[segment] = prev
    this.#heads[segment] = -1
    this.#tails[segment] = -1
    this.#counts[segment] = 0
    return segment
  }

  /**
   * Appends an entry to segment `segment` (the next slice of its domain); returns the entry's
   * length. The entry is kept as its batch holds it, after its varint length, so that a run of
   * one segment's entries (all of a one-domain drain) is copied into the batch at once.
   */
  append(segment: number, entry: EntryInput): number {
    const entries = this.entries
    const start = entries.offset
    // The length's place: one byte, widened once the entry turns out 128 bytes or longer.
    entries.u8(0)
    writeEntry(entries, entry)
    const length = entries.offset - start - 1
    const prefix = varintBytes(length)
    if (prefix > 1) {
      entries.reserve(prefix - 1)
      entries.bytes.copyWithin(start + prefix, start + 1, entries.offset)
      entries.offset += prefix - 1
    }
    writeVarint(entries.bytes, start, length)
    const index = this.#entryCount++
    this.#starts[index] = start
    this.#ends[index] = entries.offset
    this.#nexts[index] = -1
    if (this.#tails[segment]! < 0) this.#heads[segment] = index
    else this.#nexts[this.#tails[segment]!] = index
    this.#tails[segment] = index
    this.#counts[segment]!++
    return length
  }

  idAt(segment: number): string {
    return this.#ids[segment]!
  }

  firstAt(segment: number): number {
    return this.#firsts[segment]!
  }

  prevAt(segment: number): number {
    return this.#prevs[segment]!
  }

  /** The time batch (format 3) of every segment opened since the last reset. */
  encode(): Buffer {
    const bodies: number[] = []
    const idLengths: number[] = []
    let bytes = 1 + varintBytes(this.segments)
    for (let segment = 0; segment < this.segments; segment++) {
      let body = 0
      for (let e = this.#heads[segment]!; e >= 0; e = this.#nexts[e]!) body += this.#ends[e]! - this.#starts[e]!
      const idLength = Buffer.byteLength(this.#ids[segment]!, 'utf8')
      bodies.push(body)
      idLengths.push(idLength)
      bytes += segmentHeaderBytes(idLength, this.#firsts[segment]!, this.#prevs[segment]!, this.#counts[segment]!, body) + body
    }
    const batch = Buffer.allocUnsafe(bytes)
    batch[0] = TIME_FORMAT
    let offset = writeVarint(batch, 1, this.segments)
    const source = this.entries.bytes
    for (let segment = 0; segment < this.segments; segment++) {
      offset = writeSegmentHeader(batch, offset, this.#ids[segment]!, idLengths[segment]!, this.#firsts[segment]!, this.#prevs[segment]!, this.#counts[segment]!, bodies[segment]!)
      // Runs of entries that lie back to back (every entry of a domain that ran alone) go in one copy.
      for (let e = this.#heads[segment]!; e >= 0; ) {
        const start = this.#starts[e]!
        let end = this.#ends[e]!
        e = this.#nexts[e]!
        while (e >= 0 && this.#starts[e] === end) {
          end = this.#ends[e]!
          e = this.#nexts[e]!
        }
        const length = end - start
        if (length <= SHORT_ENTRY_BYTES_MAX) for (let k = 0; k < length; k++) batch[offset + k] = source[start + k]!
        else source.copy(batch, offset, start, end)
        offset += length
      }
    }
    return checkLength(batch, offset)
  }

  reset(): void {
    this.segments = 0
    this.#entryCount = 0
    this.entries.release()
  }
}

function segmentHeaderBytes(idLength: number, first: number, prev: number, count: number, body: number): number {
  return varintBytes(idLength) + idLength + varintBytes(first) + varintBytes(prev + 1) + varintBytes(count) + varintBytes(body)
}

function writeSegmentHeader(batch: Buffer, start: number, id: string, idLength: number, first: number, prev: number, count: number, body: number): number {
  let offset = writeVarint(batch, start, idLength)
  const idEnd = idLength === id.length ? writeAscii(batch, offset, id) : -1
  offset = idEnd >= 0 ? idEnd : offset + batch.write(id, offset, 'utf8')
  offset = writeVarint(batch, offset, first)
  offset = writeVarint(batch, offset, prev + 1)
  offset = writeVarint(batch, offset, count)
  return writeVarint(batch, offset, body)
}

/** The batch is exactly as long as its size was computed: a mismatch is a bug in the sizes above. */
function checkLength(batch: Buffer, offset: number): Buffer {
  if (offset !== batch.length) throw new Error(`ved: a journal batch of ${batch.length} bytes was written with ${offset}`)
  return batch
}

/** True for a time batch (formats 2 and 3), false for a domain-region batch. */
export function isTimeBatch(bytes: Uint8Array): boolean {
  const batch = asBuffer(bytes)
  checkFormat(batch)
  return batch[0] !== BATCH_FORMAT
}

/** Every segment of a time batch, in the order written. */
export function timeSegments(bytes: Uint8Array): TimeSegment[] {
  const segments: TimeSegment[] = []
  readSegments(asTimeBatch(bytes), null, segments)
  return segments
}

/** The segment of domain `id` in a time batch, or null; other domains' segments are skipped unsplit. */
export function timeSegmentOf(bytes: Uint8Array, id: string): TimeSegment | null {
  const segments: TimeSegment[] = []
  readSegments(asTimeBatch(bytes), id, segments)
  return segments[0] ?? null
}

function asTimeBatch(bytes: Uint8Array): Buffer {
  const batch = asBuffer(bytes)
  checkFormat(batch)
  if (batch[0] === BATCH_FORMAT) throw corrupt('the time region holds a domain-region batch')
  return batch
}

/** Reads the segments of `batch` (of domain `only`, if not null) into `out`. */
function readSegments(batch: Buffer, only: string | null, out: TimeSegment[]): void {
  if (batch[0] === CHAIN_FORMAT) {
    const [header, offset] = readSegmentHeader(batch, 1)
    const [count, start] = readVarint(batch, offset)
    if (only === null || header.id === only) out.push(new StoredSegment(header, batch, start, count, batch.length))
    return
  }
  let [segments, offset] = readVarint(batch, 1)
  for (; segments > 0; segments--) {
    const [header, headerEnd] = readSegmentHeader(batch, offset)
    const [count, countEnd] = readVarint(batch, headerEnd)
    const [body, start] = readVarint(batch, countEnd)
    if (start + body > batch.length) throw corrupt('a batch ends early')
    if (only === null || header.id === only) {
      out.push(new StoredSegment(header, batch, start, count, start + body))
      if (only !== null) return
    }
    offset = start + body
  }
}

function readSegmentHeader(batch: Buffer, start: number): [ChainHeader, number] {
  const [idBytes, idEnd] = readVarint(batch, start)
  if (idEnd + idBytes > batch.length) throw corrupt('a batch is shorter than its header')
  const id = batch.toString('utf8', idEnd, idEnd + idBytes)
  const [first, firstEnd] = readVarint(batch, idEnd + idBytes)
  const [prev, prevEnd] = readVarint(batch, firstEnd)
  return [{ id, first, prev: prev - 1 }, prevEnd]
}

function splitEntries(batch: Buffer, start: number, count: number, end: number): Buffer[] {
  const entries: Buffer[] = []
  walkEntries(batch, start, count, end, (entryStart, length) => {
    entries.push(batch.subarray(entryStart, entryStart + length))
    return true
  })
  return entries
}

/**
 * Visits the `count` entries of a segment body [start, end) (each `v length | entry`) in order,
 * while `visit` returns true. One walk for splitting a segment and for reading it unsplit.
 */
function walkEntries(batch: Buffer, start: number, count: number, end: number, visit: (entryStart: number, length: number, index: number) => boolean): void {
  let offset = start
  for (let index = 0; index < count; index++) {
    const entryStart = decodeVarint(batch, offset, end)
    const length = varintValue
    if (entryStart + length > end) throw corrupt('a batch ends early')
    if (!visit(entryStart, length, index)) return
    offset = entryStart + length
  }
}

/** The entries of a domain-region batch, as views of its bytes. */
export function splitBatch(bytes: Uint8Array): Buffer[] {
  const batch = asBuffer(bytes)
  checkFormat(batch)
  if (batch[0] !== BATCH_FORMAT) throw corrupt('the domain region holds a time batch')
  if (batch.length < 5) throw corrupt('a batch is shorter than its header')
  const count = batch.readUInt32LE(1)
  const entries: Buffer[] = []
  let offset = 5
  for (let i = 0; i < count; i++) {
    if (offset + 4 > batch.length) throw corrupt('a batch ends early')
    const length = batch.readUInt32LE(offset)
    if (offset + 4 + length > batch.length) throw corrupt('a batch ends early')
    entries.push(batch.subarray(offset + 4, offset + 4 + length))
    offset += 4 + length
  }
  return entries
}

function varintBytes(value: number): number {
  let bytes = 1
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) bytes++
  return bytes
}

/** A varint of a safe integer (slice numbers and seqs reach 2^48) takes at most this many bytes. */
const VARINT_BYTES_MAX = 8

function writeVarint(buffer: Buffer, offset: number, value: number): number {
  let rest = value
  while (rest >= 0x80) {
    buffer[offset++] = (rest % 0x80) | 0x80
    rest = Math.floor(rest / 0x80)
  }
  buffer[offset++] = rest
  return offset
}

function readVarint(buffer: Buffer, offset: number): [number, number] {
  const next = decodeVarint(buffer, offset, buffer.length)
  return [varintValue, next]
}

/** The value decodeVarint read last: walking a batch's entries allocates no tuple per entry. */
let varintValue = 0

/** Decodes the varint at `offset`, which must end before `end`; returns the offset after it and leaves its value in varintValue. */
function decodeVarint(buffer: Buffer, offset: number, end: number): number {
  let value = 0
  for (let shift = 0; shift < 7 * VARINT_BYTES_MAX; shift += 7) {
    if (offset >= end) throw corrupt('a batch ends early')
    const byte = buffer[offset++]!
    value += (byte & 0x7f) * 2 ** shift
    if (byte < 0x80) {
      varintValue = value
      return offset
    }
  }
  throw corrupt('a varint is too long')
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function checkFormat(batch: Buffer): void {
  if (batch.length < 1) throw corrupt('a batch is empty')
  if (batch[0] !== BATCH_FORMAT && batch[0] !== CHAIN_FORMAT && batch[0] !== TIME_FORMAT) {
    throw new VedError('EFORMAT', `a journal batch has format ${batch[0]}; this version reads formats ${BATCH_FORMAT} to ${TIME_FORMAT}`)
  }
}
