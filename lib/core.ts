// StoreCore: the native handle of one open store, its shared buffers and the read paths.
//
// Invariants:
// - The handle never leaves this module's objects: Store, Snapshot and range iterators call
//   the native side only through a StoreCore, which checks `closed` first (ECLOSED).
// - keyBuf is written right before each native call that reads it, and valueBuf is decoded
//   right after each call that fills it, before any other native call: both are shared by
//   every read of the store, and the JS thread is the only one touching them.
// - Every native snapshot this core pinned is in #pins until unpinned; close() unpins what
//   is left (leaked snapshots and iterators) before the native store closes.
// - Read-only stores call refresh() before each newest-version read, so they see the commits
//   the writer made durable since.
import { addon, limits } from './addon.js'
import { VedError } from './errors.js'
import { readKey, writeKey, type Key } from './keys.js'
import { KEY_BUF_SIZE_BYTES, KEY_END_OFFSET, SCAN_HAS_END, SCAN_HAS_START, SCAN_KEYS_ONLY, SCAN_REVERSE, type NativeCleanStep, type NativeStats, type NativeVerifyReport, type StoreHandle } from './native.js'
import type { ResolvedOptions } from './options.js'
import type { OpsWriter } from './transaction.js'
import { createCodec, type ValueCodec } from './values.js'

/** Snapshot id that reads the newest sealed version. */
export const SNAPSHOT_NEWEST = -1
/** Tree id of a tree that does not exist (read-only stores only). */
export const TREE_MISSING = -1
/** Tree ids travel as u16 in the ops buffer. */
const TREE_ID_MAX = 0xffff

/** Room for a typical value without growing. */
const VALUE_BUF_SIZE_BYTES_INITIAL = 64 * 1024
/** A value buffer grown past this (one big value) is given back after the read that needed it. */
const VALUE_BUF_SIZE_BYTES_KEEP_MAX = 8 * 1024 * 1024
/** Scan output record header: u32 keyLength | u32 valueLength. */
const SCAN_RECORD_HEADER_SIZE_BYTES = 8

export interface RangeEntry<V = any, K = string> {
  key: K
  value: V
}

export interface ScanBatch {
  entries: RangeEntry<unknown, string | Buffer>[]
  /** Raw bytes of the last key of the batch (a copy); null when the batch is empty. */
  lastKey: Buffer | null
  /** True when the range has no pairs after this batch. */
  done: boolean
}

export class StoreCore {
  readonly path: string
  readonly options: ResolvedOptions
  readonly codec: ValueCodec
  readonly #h: StoreHandle
  readonly #keyBuf: Buffer = Buffer.allocUnsafeSlow(KEY_BUF_SIZE_BYTES)
  #valueBuf: Buffer = Buffer.allocUnsafeSlow(VALUE_BUF_SIZE_BYTES_INITIAL)
  #closed = false
  /** Tree ids by name; only ids that exist are cached (read-only stores may see a tree appear). */
  readonly #trees = new Map<string, number>()
  /** Native snapshot ids pinned through this core and not yet unpinned. */
  readonly #pins = new Set<number>()

  constructor(path: string, options: ResolvedOptions, h: StoreHandle) {
    this.path = path
    this.options = options
    this.codec = createCodec(options.encoding)
    this.#h = h
    addon.setBuffers(h, this.#keyBuf, this.#valueBuf)
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Throws ECLOSED once the store is closed (or closing). */
  check(): void {
    if (this.#closed) throw new VedError('ECLOSED', 'store is closed')
  }

  /** Read-only stores: pick up the writer's durable commits before a newest-version read. */
  refresh(): void {
    if (this.options.readOnly) addon.refresh(this.#h)
  }

  /** The id of tree `name`; TREE_MISSING when it does not exist in a read-only store. */
  treeId(name: string): number {
    const cached = this.#trees.get(name)
    if (cached !== undefined) return cached
    if (typeof name !== 'string') throw new VedError('EINVAL', 'a tree name must be a string')
    const nameSizeBytes = Buffer.byteLength(name, 'utf8')
    if (nameSizeBytes > limits.treeNameBytesMax) {
      throw new VedError('ETREELIMIT', `tree name is ${nameSizeBytes} bytes, the maximum is ${limits.treeNameBytesMax}`)
    }
    if (!name.isWellFormed()) throw new VedError('EENCODE', 'a tree name must not contain lone surrogates')
    const id = addon.treeId(this.#h, name)
    if (id === TREE_MISSING) return TREE_MISSING
    if (!(Number.isInteger(id) && id >= 0 && id <= TREE_ID_MAX)) throw new Error(`ved: native tree id ${id} out of range`)
    this.#trees.set(name, id)
    return id
  }

  /** The value of `key` in `tree` at `snapshot`, or undefined. */
  get(snapshot: number, tree: number, key: Key): unknown {
    const keyLength = writeKey(this.#keyBuf, 0, key, false)
    if (tree === TREE_MISSING) return undefined
    let valueLength = addon.get(this.#h, snapshot, tree, keyLength)
    if (valueLength < -1) {
      this.#growValueBuf(-valueLength)
      valueLength = addon.get(this.#h, snapshot, tree, keyLength)
      if (valueLength < -1) throw new Error(`ved: native get asked for ${-valueLength} bytes after growing to ${this.#valueBuf.length}`)
    }
    if (valueLength === -1) return undefined
    const value = this.codec.decode(this.#valueBuf, 0, valueLength)
    this.#shrinkValueBuf()
    return value
  }

  /**
   * Reads up to `limit` pairs of a range; `start` (inclusive) and `end` (exclusive) are raw key
   * bytes or null for an open side. The batch may hold fewer pairs when they do not fit.
   * `keysOnly`: values are not read, each pair's value is undefined.
   */
  scan(snapshot: number, tree: number, reverse: boolean, start: Buffer | null, end: Buffer | null, limit: number, keysOnly = false): ScanBatch {
    let flags = (reverse ? SCAN_REVERSE : 0) | (keysOnly ? SCAN_KEYS_ONLY : 0)
    if (start !== null) {
      start.copy(this.#keyBuf, 0)
      flags |= SCAN_HAS_START
    }
    if (end !== null) {
      end.copy(this.#keyBuf, KEY_END_OFFSET)
      flags |= SCAN_HAS_END
    }
    const startLength = start === null ? 0 : start.length
    const endLength = end === null ? 0 : end.length
    let batchLimit = limit
    let count = addon.scan(this.#h, snapshot, tree, flags, startLength, endLength, batchLimit)
    while (count < 0) {
      const needBytes = -count
      // A batch of big values could ask for a huge buffer: ask for fewer pairs instead.
      if (needBytes > VALUE_BUF_SIZE_BYTES_KEEP_MAX && batchLimit > 1) {
        batchLimit = Math.max(1, batchLimit >> 2)
      } else {
        this.#growValueBuf(needBytes)
      }
      count = addon.scan(this.#h, snapshot, tree, flags, startLength, endLength, batchLimit)
    }
    const done = addon.scanDone(this.#h)
    const batch = this.#decodeScan(count, done, keysOnly)
    this.#shrinkValueBuf()
    return batch
  }

  #decodeScan(count: number, done: boolean, keysOnly: boolean): ScanBatch {
    const buf = this.#valueBuf
    const keyEncoding = this.options.keyEncoding
    const entries: RangeEntry<unknown, string | Buffer>[] = new Array(count)
    let offset = 0
    let lastKeyStart = 0
    let lastKeyEnd = 0
    for (let i = 0; i < count; i++) {
      const keyLength = buf.readUInt32LE(offset)
      const valueLength = buf.readUInt32LE(offset + 4)
      const keyStart = offset + SCAN_RECORD_HEADER_SIZE_BYTES
      const valueStart = keyStart + keyLength
      offset = valueStart + valueLength
      entries[i] = { key: readKey(buf, keyStart, valueStart, keyEncoding), value: keysOnly ? undefined : this.codec.decode(buf, valueStart, offset) }
      lastKeyStart = keyStart
      lastKeyEnd = valueStart
    }
    const lastKey = count === 0 ? null : Buffer.from(buf.subarray(lastKeyStart, lastKeyEnd))
    return { entries, lastKey, done }
  }

  /** Copies a range bound into an owned Buffer after checking it like a key; null for ''. */
  boundBytes(bound: unknown, name: string): Buffer | null {
    if ((typeof bound === 'string' || bound instanceof Uint8Array) && bound.length === 0) return null
    if (typeof bound !== 'string' && !(bound instanceof Uint8Array)) {
      throw new VedError('EINVAL', `range ${name} must be a string or a Uint8Array`)
    }
    const length = writeKey(this.#keyBuf, 0, bound, false)
    return Buffer.from(this.#keyBuf.subarray(0, length))
  }

  /** Pins the newest sealed version; unpin it exactly once. */
  pin(): number {
    const id = addon.snapshot(this.#h)
    this.#pins.add(id)
    return id
  }

  unpin(id: number): void {
    if (!this.#pins.delete(id)) return
    if (!this.#closed) addon.snapshotClose(this.#h, id)
  }

  snapshotSeq(id: number): number {
    return addon.snapshotSeq(this.#h, id)
  }

  /** Seals the writer's ops as one commit; returns its sequence number. */
  commit(writer: OpsWriter): number {
    return addon.commit(this.#h, writer.buf, writer.length)
  }

  stats(): NativeStats {
    return addon.stats(this.#h)
  }

  cleanStep(start: boolean, relocationsMax: number): NativeCleanStep {
    return addon.cleanStep(this.#h, start, relocationsMax)
  }

  verify(onProgress: ((pagesDone: number, pagesTotalEstimate: number) => void) | null): NativeVerifyReport {
    return addon.verify(this.#h, onProgress)
  }

  /** First step of close: every later call throws ECLOSED; pinned versions are released. */
  markClosed(): void {
    if (this.#closed) return
    for (const id of this.#pins) addon.snapshotClose(this.#h, id)
    this.#pins.clear()
    this.#closed = true
  }

  /** Last step of close: native close (drains the flusher, releases files and lock). */
  closeNative(): void {
    addon.close(this.#h)
  }

  #growValueBuf(sizeBytes: number): void {
    if (sizeBytes <= this.#valueBuf.length) throw new Error(`ved: native asked to grow the value buffer to ${sizeBytes}, it has ${this.#valueBuf.length}`)
    this.#valueBuf = Buffer.allocUnsafeSlow(Math.max(sizeBytes, this.#valueBuf.length * 2))
    addon.setBuffers(this.#h, this.#keyBuf, this.#valueBuf)
  }

  #shrinkValueBuf(): void {
    if (this.#valueBuf.length <= VALUE_BUF_SIZE_BYTES_KEEP_MAX) return
    this.#valueBuf = Buffer.allocUnsafeSlow(VALUE_BUF_SIZE_BYTES_INITIAL)
    addon.setBuffers(this.#h, this.#keyBuf, this.#valueBuf)
  }
}
