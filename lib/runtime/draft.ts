// The draft a handler mutates, and the delta derived from it.
//
// How a change is found (measured against mutative and immer: docs/design.md, bench/runtime-draft.js):
// a field or map entry is decoded from its stored bytes the first time the slice touches
// it, so the handler owns a private copy and may mutate it in place. When the handler
// returns, every touched value that could have changed (assigned, or an object that was
// read) is encoded again and its bytes compared with the stored bytes: equal bytes, no
// write. Untouched fields and entries cost nothing, so a slice that touches k entries of a
// map of N pays k reads and k encodes, O(k log N), whatever N is.
//
// A loaded domain remembers its plain fields between slices (FieldMemo, held by the
// Instance): the bytes the store holds and, for a primitive, the value. A slice then reads a
// field without a store read, and a primitive without a decode; an object is still decoded
// from the remembered bytes, because the handler must own a private copy.
//
// Invariants:
// - Nothing here writes anywhere: collect() returns the delta; the caller decides whether
//   the slice commits (a handler that threw leaves no trace). The one exception is filling
//   the memo on a read: it then holds what PendingWrites returned, which is true whatever the
//   slice does; a slice's own changes reach the memo only through delta.memos, applied by
//   the caller with the delta.
// - A memo entry equals what PendingWrites would return for its key; whoever writes a plain
//   field other than through a delta (a migration) clears the memo.
// - Map sizes are exact: the first write to an entry reads whether it existed.
// - Only a migration draft reads, writes or deletes fields the definition does not declare.
import { VedError } from '../errors.js'
import { decode, encode } from './codec.js'
import type { DomainDefinition, FieldInfo } from './domain.js'
import { checkEngineKey, entryPrefix, fieldKey } from './keys.js'
import { validateWith } from './schema.js'
import { compareUtf8 } from './writes.js'

/** What a draft reads from: pending writes, then the store. */
export interface Reads {
  get(key: string): Buffer | undefined
  prefixEntries(prefix: string): Iterable<[string, Buffer]>
}

/**
 * A plain field as the store holds it (pending writes included), kept per loaded domain.
 * `value` is the decoded value when it is a primitive (or absent), else undefined: objects
 * are decoded again by each slice.
 */
export interface FieldMemo {
  /** The field's engine key, built once: a key string made per slice is hashed per slice. */
  readonly key: string
  /** The rest is updated in place by applyMemos: a long-lived object replaced per slice is GC work. */
  origin: Buffer | null
  present: boolean
  primitive: boolean
  value: unknown
}

/** A slice's state changes: engine writes, the keys changed, the new map sizes. */
export interface StateDelta {
  writes: Array<[string, Buffer | null]>
  /** The bytes each write replaces (parallel to writes; a plain field never written: its default), null when absent. */
  before: Array<Buffer | null>
  /** Field names, and `field\0entry` for map entries (for the slice record). */
  changed: string[]
  sizes: Record<string, number>
  /** The plain fields written, for applyMemos: memo, bytes, value, memo, ... (null when the draft keeps no memo). */
  memos: unknown[] | null
}

interface Slot {
  /** The engine key. */
  key: string
  value: unknown
  /** Present in the store (or its default, for a plain field never written). */
  present: boolean
  /** The bytes read, null when nothing was stored. */
  origin: Buffer | null
  /** Written by the handler (not only read). */
  assigned: boolean
  /** The value the origin bytes hold when it is a primitive (from the memo), else undefined. */
  originValue: unknown
  originPrimitive: boolean
  /** The memo entry the slot was read from (plain fields of a draft with a memo), else null. */
  memo: FieldMemo | null
}

export class StateDraft {
  /**
   * One handler object for every draft's proxy, whose target is the draft itself: a proxy
   * with its own closures cost seven allocations per slice.
   */
  static readonly #traps: ProxyHandler<StateDraft> = {
    get: (draft, field) => (typeof field === 'string' ? draft.#get(field) : undefined),
    set: (draft, field, value) => {
      if (typeof field !== 'string') throw new VedError('EINVAL', 'state fields are named by strings')
      draft.#set(field, value)
      return true
    },
    deleteProperty: (draft, field) => {
      if (typeof field !== 'string') return true
      draft.#delete(field)
      return true
    },
    defineProperty: (draft) => {
      throw new VedError('EINVAL', `domain ${draft.#definition.name}: assign state fields, do not define them`)
    },
    has: (draft, field) => typeof field === 'string' && (draft.#definition.fields.has(field) || (draft.#migrating && draft.#plainSlot(field).present)),
    ownKeys: (draft) => [...draft.#definition.fields.keys()],
    // The state reads as a plain object without a prototype, as when its target was one.
    getPrototypeOf: () => null,
    getOwnPropertyDescriptor: (draft, field) => {
      if (typeof field !== 'string' || !draft.#definition.fields.has(field)) return undefined
      return { value: draft.#get(field), writable: true, enumerable: true, configurable: true }
    },
  }

  readonly proxy: Record<string, any>
  readonly #definition: DomainDefinition
  readonly #id: string
  readonly #reads: Reads
  readonly #migrating: boolean
  readonly #memo: Map<string, FieldMemo> | null
  readonly #plain = new Map<string, Slot>()
  #maps: Map<string, DraftMapImpl> | null = null
  readonly #sizes: Record<string, number>

  /** `memo`: the domain's remembered plain fields (read and filled here), or null to read the store each time. */
  constructor(definition: DomainDefinition, id: string, reads: Reads, sizes: Record<string, number>, migrating: boolean, memo: Map<string, FieldMemo> | null = null) {
    this.#definition = definition
    this.#id = id
    this.#reads = reads
    this.#sizes = sizes
    this.#migrating = migrating
    // A migration reads fields the definition does not declare, through an overlay: no memo.
    this.#memo = migrating ? null : memo
    this.proxy = new Proxy(this, StateDraft.#traps) as unknown as Record<string, any>
  }

  /**
   * util.inspect of the proxy finds this method on its target, this draft, and calls it on
   * the proxy (Node does not run traps to inspect a proxy): show the state's fields, as
   * reading them through the proxy would.
   */
  [Symbol.for('nodejs.util.inspect.custom')](this: StateDraft | Record<string, unknown>): Record<string, unknown> {
    const state = this instanceof StateDraft ? this.proxy : this
    const fields: Record<string, unknown> = {}
    for (const field of Object.keys(state)) fields[field] = state[field]
    return fields
  }

  /** The delta of everything the handler did. Throws EENCODE, EKEYSIZE or ESCHEMA for a bad value. */
  collect(): StateDelta {
    const memos = this.#memo === null ? null : ([] as unknown[])
    const delta: StateDelta = { writes: [], before: [], changed: [], sizes: this.#sizes, memos }
    let plainChanged = false
    for (const [field, slot] of this.#plain) {
      const bytes = changedBytes(slot, `field ${field}`)
      if (bytes === undefined) continue
      plainChanged = true
      delta.writes.push([slot.key, bytes])
      delta.before.push(slot.origin)
      delta.changed.push(field)
      if (memos !== null && slot.memo !== null) memos.push(slot.memo, bytes, slot.value)
    }
    if (this.#maps !== null) {
      // Sizes are copied only when a map was drafted: the caller keeps the object it passed in otherwise.
      delta.sizes = { ...this.#sizes }
      for (const [field, draftMap] of this.#maps) {
        draftMap.collect(delta)
        delta.sizes[field] = draftMap.size
      }
    }
    if (plainChanged && this.#definition.schema !== null) validateWith(this.#definition.schema, this.#plainObject(), `domain ${this.#definition.name}: state`)
    return delta
  }

  #get(field: string): unknown {
    const info = this.#definition.fields.get(field)
    if (info?.kind === 'map') return this.#map(info)
    if (info === undefined && !this.#migrating) return undefined
    const slot = this.#plainSlot(field)
    return slot.present ? slot.value : undefined
  }

  #set(field: string, value: unknown): void {
    const info = this.#definition.fields.get(field)
    if (info?.kind === 'map') throw new VedError('EINVAL', `field ${field} is a map(): change its entries with set/delete/clear, it cannot be replaced`)
    if (info === undefined && !this.#migrating) throw new VedError('EINVAL', `domain ${this.#definition.name} declares no field ${field}`)
    const slot = this.#plainSlot(field)
    slot.value = value
    slot.present = true
    slot.assigned = true
  }

  #delete(field: string): void {
    if (!this.#migrating) throw new VedError('EINVAL', `field ${field} cannot be deleted (only a migration removes fields)`)
    const info = this.#definition.fields.get(field)
    if (info?.kind === 'map') {
      this.#map(info).clear()
      return
    }
    const slot = this.#plainSlot(field)
    slot.present = false
    slot.assigned = true
  }

  #plainSlot(field: string): Slot {
    let slot = this.#plain.get(field)
    if (slot === undefined) {
      const memo = this.#memo === null ? null : this.#memoOf(field)
      if (memo !== null) {
        const value = memo.primitive ? memo.value : decode(memo.origin!)
        slot = { key: memo.key, value, present: memo.present, origin: memo.origin, assigned: false, originValue: memo.value, originPrimitive: memo.primitive, memo }
      } else {
        const key = fieldKey(this.#id, field)
        const stored = this.#reads.get(key)
        const bytes = stored ?? this.#definition.fields.get(field)?.defaultBytes ?? null
        // A default that was never stored still counts as the field's bytes: equal bytes, no write.
        slot = { key, value: bytes === null ? undefined : decode(bytes), present: bytes !== null, origin: bytes, assigned: false, originValue: undefined, originPrimitive: false, memo: null }
      }
      this.#plain.set(field, slot)
    }
    return slot
  }

  /** The memo entry of a declared plain field, read from the store and remembered on a miss. */
  #memoOf(field: string): FieldMemo | null {
    let memo = this.#memo!.get(field)
    if (memo === undefined) {
      const info = this.#definition.fields.get(field)
      if (info === undefined || info.kind !== 'plain') return null
      const key = fieldKey(this.#id, field)
      const bytes = this.#reads.get(key) ?? info.defaultBytes
      memo = memoOf(key, bytes, bytes === null ? undefined : decode(bytes))
      this.#memo!.set(field, memo)
    }
    return memo
  }

  #map(info: FieldInfo): DraftMapImpl {
    this.#maps ??= new Map()
    let draftMap = this.#maps.get(info.name)
    if (draftMap === undefined) {
      draftMap = new DraftMapImpl(info, entryPrefix(this.#id, info.name), this.#reads, this.#sizes[info.name] ?? 0)
      this.#maps.set(info.name, draftMap)
    }
    return draftMap
  }

  #plainObject(): Record<string, unknown> {
    const object: Record<string, unknown> = {}
    for (const info of this.#definition.fields.values()) if (info.kind === 'plain') object[info.name] = this.#get(info.name)
    return object
  }
}

/** The memo of field key `key` whose bytes are `bytes` (null: absent) and whose value is `value`. */
function memoOf(key: string, bytes: Buffer | null, value: unknown): FieldMemo {
  const memo: FieldMemo = { key, origin: null, present: false, primitive: true, value: undefined }
  setMemo(memo, bytes, value)
  return memo
}

function setMemo(memo: FieldMemo, bytes: Buffer | null, value: unknown): void {
  // An object is not kept: the handler that made it may still hold it, and mutate it later.
  const primitive = bytes === null || typeof value !== 'object' || value === null
  memo.origin = bytes
  memo.present = bytes !== null
  memo.primitive = primitive
  memo.value = bytes !== null && primitive ? value : undefined
}

/** Brings the memo up to date with a delta that reached PendingWrites (the slice succeeded). */
export function applyMemos(delta: StateDelta): void {
  const memos = delta.memos
  if (memos === null) return
  for (let i = 0; i < memos.length; i += 3) setMemo(memos[i] as FieldMemo, memos[i + 1] as Buffer | null, memos[i + 2])
}

/** Bytes to write for a touched value, null to delete, undefined when unchanged. */
function changedBytes(slot: Slot, what: string): Buffer | null | undefined {
  if (!slot.present) return slot.origin === null ? undefined : null
  // An unassigned primitive cannot have changed; an object may have been mutated in place.
  if (!slot.assigned && (typeof slot.value !== 'object' || slot.value === null)) return undefined
  const value = slot.value
  // The same primitive again (0 and -0 included: msgpackr writes both as 0) is no change.
  if (slot.originPrimitive && slot.origin !== null && value === slot.originValue) return undefined
  // Two different primitives never share bytes (NaN aside, which is not equal to itself), so
  // a primitive that replaced another one is a change without comparing bytes.
  const replaced = slot.originPrimitive && value !== slot.originValue && value === value && (typeof value !== 'object' || value === null)
  const bytes = encode(value, what)
  if (!replaced && slot.origin !== null && bytes.equals(slot.origin)) return undefined
  return bytes
}

class DraftMapImpl {
  readonly #info: FieldInfo
  readonly #prefix: string
  readonly #reads: Reads
  readonly #slots = new Map<string, Slot>()
  #size: number

  constructor(info: FieldInfo, prefix: string, reads: Reads, size: number) {
    this.#info = info
    this.#prefix = prefix
    this.#reads = reads
    this.#size = size
  }

  get size(): number {
    return this.#size
  }

  get(key: string): unknown {
    const slot = this.#slot(key)
    return slot.present ? slot.value : undefined
  }

  has(key: string): boolean {
    return this.#slot(key).present
  }

  set(key: string, value: unknown): this {
    const slot = this.#slot(key)
    checkEngineKey(this.#prefix + key, `map ${this.#info.name} key`)
    if (value === undefined) throw new VedError('EENCODE', `map ${this.#info.name}: set(${JSON.stringify(key)}, undefined); use delete()`)
    if (!slot.present) this.#size++
    slot.value = value
    slot.present = true
    slot.assigned = true
    return this
  }

  delete(key: string): boolean {
    const slot = this.#slot(key)
    if (!slot.present) return false
    slot.present = false
    slot.value = undefined
    slot.assigned = true
    this.#size--
    return true
  }

  clear(): void {
    for (const key of [...this.keys()]) this.delete(key)
  }

  *entries(): IterableIterator<[string, unknown]> {
    for (const key of this.#keyList()) {
      const slot = this.#slot(key)
      if (slot.present) yield [key, slot.value]
    }
  }

  *keys(): IterableIterator<string> {
    for (const [key] of this.entries()) yield key
  }

  *values(): IterableIterator<unknown> {
    for (const [, value] of this.entries()) yield value
  }

  forEach(fn: (value: unknown, key: string) => void): void {
    for (const [key, value] of this.entries()) fn(value, key)
  }

  [Symbol.iterator](): IterableIterator<[string, unknown]> {
    return this.entries()
  }

  collect(delta: StateDelta): void {
    for (const [key, slot] of this.#slots) {
      const bytes = changedBytes(slot, `map ${this.#info.name} entry ${JSON.stringify(key)}`)
      if (bytes === undefined) continue
      if (bytes !== null && this.#info.schema !== null) validateWith(this.#info.schema, slot.value, `map ${this.#info.name} entry ${JSON.stringify(key)}`)
      delta.writes.push([slot.key, bytes])
      delta.before.push(slot.origin)
      delta.changed.push(`${this.#info.name}\0${key}`)
    }
  }

  /** Stored keys merged with keys this slice added, in key order; a snapshot, so mutation while iterating is safe. */
  #keyList(): string[] {
    const keys: string[] = []
    const seen = new Set<string>()
    for (const [engineKey, bytes] of this.#reads.prefixEntries(this.#prefix)) {
      const key = engineKey.slice(this.#prefix.length)
      keys.push(key)
      seen.add(key)
      if (!this.#slots.has(key)) this.#slots.set(key, { key: engineKey, value: decode(bytes), present: true, origin: bytes, assigned: false, originValue: undefined, originPrimitive: false, memo: null })
    }
    const added = [...this.#slots.keys()].filter((key) => !seen.has(key) && this.#slots.get(key)!.present)
    if (added.length === 0) return keys
    return [...keys, ...added].sort(compareUtf8)
  }

  #slot(key: string): Slot {
    if (typeof key !== 'string') throw new VedError('EINVAL', `map ${this.#info.name}: keys are strings, got ${typeof key}`)
    let slot = this.#slots.get(key)
    if (slot === undefined) {
      const engineKey = this.#prefix + key
      const stored = this.#reads.get(engineKey) ?? null
      slot = { key: engineKey, value: stored === null ? undefined : decode(stored), present: stored !== null, origin: stored, assigned: false, originValue: undefined, originPrimitive: false, memo: null }
      this.#slots.set(key, slot)
    }
    return slot
  }
}
