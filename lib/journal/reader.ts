// Journal: the queries on the causal journal (runtime.journal, and `ved journal` / `ved
// lineage` on a store opened read-only). Each query reads one pinned version of the store,
// so the entries, the index keys and the current state it combines agree with each other.
//
// Invariants:
// - A query never throws for an id, domain or slice it cannot find: it answers empty with a
//   `reason` ('unknown': never existed; 'expired': compaction dropped it; 'disabled': the
//   journal is off and recorded nothing; 'unwritten': the whole history is kept and no
//   slice wrote that path; 'omitted': stateAt would have to undo a slice whose values were
//   too big to keep). Bad arguments (wrong types) are EINVAL.
// - Work is bounded: lineage stops at LINEAGE_NODES_MAX nodes and says `truncated`.
import { isDeepStrictEqual } from 'node:util'
import { describeValue, VedError } from '../errors.js'
import type { Snapshot, SnapshotTree } from '../snapshot.js'
import type { Store } from '../store.js'
import { decode } from '../runtime/codec.js'
import type { DomainDefinition } from '../runtime/domain.js'
import type { Meta } from '../runtime/instance.js'
import { domainId, readMetaBytes, RUNTIME_TREE } from '../runtime/keys.js'
import { decodeEntry, decodeHeader, type StoredEffect, type StoredEntry } from './entry.js'
import { entriesOf, NO_SEQ, SLICE_MAX } from './batches.js'
import { effectKey, JOURNAL_TREE, locatorPrefix, prefixEnd } from './keys.js'

/** Nodes of one lineage answer at most (exported for `ved lineage`, which says when it is reached). */
export const LINEAGE_NODES_MAX = 10_000

export type JournalReason = 'unknown' | 'expired' | 'disabled' | 'unwritten' | 'omitted'

export interface JournalIntent {
  readonly id: string
  readonly type: string
  readonly payload: unknown
  readonly causedBy: string | null
  readonly root: string
  readonly from: { readonly domain: string; readonly key: string } | null
}

export type EffectOutcome =
  | { readonly status: 'pending'; readonly attempt: number }
  | { readonly status: 'done'; readonly attempt: number; readonly slice: number; readonly result: unknown }
  | { readonly status: 'failed'; readonly attempt: number; readonly slice: number; readonly error: unknown }
  /** The effect's index was compacted away, or it was re-emitted by a later slice. */
  | { readonly status: 'unknown' }

export interface JournalEntry {
  readonly slice: number
  /** ctx.now of the slice (ms since the epoch). */
  readonly at: number
  readonly intent: JournalIntent
  /** `path` is `field` or `field.entry` (a map() entry); undefined = absent. */
  readonly changes: ReadonlyArray<{ readonly path: string; readonly before: unknown; readonly after: unknown }>
  readonly effects: ReadonlyArray<{ readonly id: string; readonly name: string; readonly payload: unknown; readonly attempt: number; readonly outcome: EffectOutcome }>
  readonly messages: ReadonlyArray<{ readonly id: string; readonly domain: string; readonly key: string; readonly type: string }>
  readonly timers: ReadonlyArray<{ readonly id: string; readonly type: string; readonly due: number }>
  readonly cancelled: readonly string[]
  readonly reply: unknown
  readonly error: { readonly name: string; readonly message: string; readonly code?: string } | null
  /** [from, to] versions when a migration ran in this slice. */
  readonly migrated: readonly [number, number] | null
  /** The slice's values were too big to keep: payload, reply, effect payloads and before/after read as undefined. */
  readonly valuesOmitted: boolean
}

export interface LineageNode {
  readonly intentId: string
  readonly domain: string
  readonly key: string
  readonly slice: number
  readonly type: string
  readonly at: number
  /** The intent or effect id that caused this one (null for an external send). */
  readonly causedBy: string | null
  /** Intent ids of the children in this answer, in the order they ran. */
  readonly children: string[]
}

export interface LineageResult {
  /** The external request at the start of the chain (null when the intent is not found). */
  readonly root: string | null
  /** Ancestors from the oldest retained, the intent itself, then its descendants (breadth first). */
  readonly nodes: LineageNode[]
  /** Part of the tree is missing: an ancestor was compacted away, or LINEAGE_NODES_MAX was reached. */
  readonly truncated: boolean
  readonly reason?: JournalReason
}

export interface JournalWrite {
  readonly slice: number
  readonly at: number
  readonly intent: JournalIntent
  /** The path the change was recorded at (`field` or `field.entry`). */
  readonly path: string
  /** The value at the asked path before and after the slice (undefined = absent). */
  readonly before: unknown
  readonly after: unknown
}

export interface JournalOptions {
  /** Definitions give state defaults and tell map fields apart; without one, stateAt shows stored fields only. */
  definitionOf?: (name: string) => DomainDefinition | undefined
  /** False when the runtime records nothing (reason 'disabled'). Default true. */
  enabled?: boolean
}

export class Journal {
  readonly #store: Store<Buffer>
  readonly #definitionOf: (name: string) => DomainDefinition | undefined
  readonly #enabled: boolean

  /** A reader over `store`, which must be opened with encoding 'binary' (the runtime's own store is). */
  constructor(store: Store<Buffer>, options: JournalOptions = {}) {
    this.#store = store
    this.#definitionOf = options.definitionOf ?? (() => undefined)
    this.#enabled = options.enabled ?? true
  }

  /** The retained entries of one domain, oldest first, within [from, to] (slice numbers). */
  slices(domain: string, key: string, options: { from?: number; to?: number; limit?: number } = {}): { entries: JournalEntry[]; reason?: JournalReason } {
    checkDomain(domain, key)
    const from = sliceOption(options.from, 'from') ?? 1
    const limit = sliceOption(options.limit, 'limit', 1) ?? Number.MAX_SAFE_INTEGER
    return this.#read((view) => {
      const meta = view.meta(domain, key)
      if (meta === undefined) return { entries: [], reason: 'unknown' as const }
      const to = sliceOption(options.to, 'to') ?? meta.n
      const id = domainId(domain, key)
      const entries: JournalEntry[] = []
      if (from <= to) {
        for (const { slice, bytes } of entriesOf(view.journal, id, headOf(meta), firstOf(meta), from, to)) {
          if (entries.length >= limit) break
          entries.push(view.entry(slice, decodeEntry(bytes)))
        }
      }
      if (entries.length > 0) return { entries }
      return { entries, reason: from > meta.n || from > to ? ('unknown' as const) : this.#missing(meta) }
    })
  }

  /**
   * The newest `limit` retained entries of one domain within [from, to], oldest first: what
   * `ved journal` shows by default. Unlike slices' limit, which counts from `from`, this counts
   * entries back from `to`, so a stretch of slices the journal did not record (it was off)
   * does not make the answer shorter.
   */
  recent(domain: string, key: string, options: { from?: number; to?: number; limit: number }): { entries: JournalEntry[]; reason?: JournalReason } {
    checkDomain(domain, key)
    const from = sliceOption(options.from, 'from') ?? 1
    const limit = sliceOption(options.limit, 'limit', 1)!
    return this.#read((view) => {
      const meta = view.meta(domain, key)
      if (meta === undefined) return { entries: [], reason: 'unknown' as const }
      const to = sliceOption(options.to, 'to') ?? meta.n
      const entries: JournalEntry[] = []
      if (from <= to) {
        for (const { slice, bytes } of entriesOf(view.journal, domainId(domain, key), headOf(meta), firstOf(meta), from, to, true)) {
          if (entries.length >= limit) break
          entries.push(view.entry(slice, decodeEntry(bytes)))
        }
      }
      entries.reverse()
      if (entries.length > 0) return { entries }
      return { entries, reason: from > meta.n || from > to ? ('unknown' as const) : this.#missing(meta) }
    })
  }

  /** The causal tree around one intent: its ancestors up to the root, itself, and its descendants, across domains. */
  lineage(intentId: string): LineageResult {
    if (typeof intentId !== 'string' || intentId.length === 0) throw new VedError('EINVAL', `lineage needs an intent id (a non-empty string), got ${describeValue(intentId)}`)
    return this.#read((view) => {
      const start = view.locate(intentId)
      if (start === null) return { root: null, nodes: [], truncated: false, reason: this.#lostIntent(view, intentId) }
      let truncated = false
      const ancestors: LineageNode[] = []
      let current = start
      while (current.node.causedBy !== null) {
        const parent = view.parentOf(current)
        if (parent === null || ancestors.length >= LINEAGE_NODES_MAX) {
          truncated = true
          break
        }
        parent.node.children.push(current.node.intentId)
        ancestors.unshift(parent.node)
        current = parent
      }
      const descendants: LineageNode[] = []
      const seen = new Set<string>([start.where])
      const queue = [start]
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        for (const child of view.childrenOf(next)) {
          if (seen.has(child.where)) continue
          if (seen.size >= LINEAGE_NODES_MAX) {
            truncated = true
            break
          }
          seen.add(child.where)
          next.node.children.push(child.node.intentId)
          descendants.push(child.node)
          queue.push(child)
        }
      }
      return { root: start.entry.r, nodes: [...ancestors, start.node, ...descendants], truncated }
    })
  }

  /** The retained slices that wrote `path` ('phase', 'hosts.a.status', or an array of parts), newest first. */
  why(domain: string, key: string, path: string | readonly string[]): { writes: JournalWrite[]; reason?: JournalReason } {
    checkDomain(domain, key)
    const parts = typeof path === 'string' ? path.split('.') : Array.isArray(path) ? [...path] : null
    if (parts === null || parts.length === 0 || parts.some((part) => typeof part !== 'string' || part.length === 0)) {
      throw new VedError('EINVAL', `why needs a path like 'phase' or 'hosts.a.status' (or an array of parts), got ${describeValue(path)}`)
    }
    return this.#read((view) => {
      const meta = view.meta(domain, key)
      if (meta === undefined) return { writes: [], reason: 'unknown' as const }
      const definition = this.#definitionOf(domain)
      if (definition !== undefined && !definition.fields.has(parts[0]!)) return { writes: [], reason: 'unknown' as const }
      const writes: JournalWrite[] = []
      for (const { slice, bytes } of entriesOf(view.journal, domainId(domain, key), headOf(meta), firstOf(meta), 1, SLICE_MAX, true)) {
        const entry = decodeEntry(bytes)
        let intent: JournalIntent | null = null
        for (let i = entry.ch.length - 1; i >= 0; i--) {
          const [changed, before, after] = entry.ch[i]!
          const rest = matchPath(changed, parts)
          if (rest === null) continue
          const beforeValue = valueAt(before === null ? undefined : decode(before), rest)
          const afterValue = valueAt(after === null ? undefined : decode(after), rest)
          if (rest.length > 0 && isDeepStrictEqual(beforeValue, afterValue)) continue
          intent ??= intentOf(entry)
          writes.push({ slice, at: entry.at, intent, path: displayPath(changed), before: beforeValue, after: afterValue })
        }
      }
      if (writes.length > 0) return { writes }
      const whole = meta.j !== undefined && meta.j[0] === 1 && meta.j[4] === 0 && meta.j[1] === meta.n
      return { writes, reason: whole ? ('unwritten' as const) : this.#missing(meta) }
    })
  }

  /** The state slice `slice` of a domain produced, for a slice inside the retained window. */
  stateAt(domain: string, key: string, slice: number): { state: Record<string, unknown> | null; reason?: JournalReason } {
    checkDomain(domain, key)
    if (!Number.isSafeInteger(slice)) throw new VedError('EINVAL', `stateAt needs a slice number, got ${describeValue(slice)}`)
    return this.#read((view) => {
      const meta = view.meta(domain, key)
      if (meta === undefined || slice < 1 || slice > meta.n) return { state: null, reason: 'unknown' as const }
      const id = domainId(domain, key)
      const prefix = `s${id}\0`
      const stored = new Map<string, Uint8Array>()
      for (const { key: field, value } of view.runtime.getRange({ start: prefix, end: prefixEnd(prefix) })) stored.set((field as string).slice(prefix.length), value)
      // Undo the slices after `slice`, newest first; each must still be there.
      let expected = meta.n
      for (const { slice: undone, bytes } of entriesOf(view.journal, id, headOf(meta), firstOf(meta), slice + 1, SLICE_MAX, true)) {
        if (undone !== expected) break
        const entry = decodeEntry(bytes)
        if (entry.o) return { state: null, reason: 'omitted' as const }
        for (let i = entry.ch.length - 1; i >= 0; i--) {
          const [path, before] = entry.ch[i]!
          if (before === null) stored.delete(path)
          else stored.set(path, before)
        }
        expected--
      }
      if (expected !== slice) return { state: null, reason: this.#missing(meta) }
      return { state: stateObject(stored, this.#definitionOf(domain)) }
    })
  }

  #missing(meta: Meta): JournalReason {
    return !this.#enabled && meta.j === undefined ? 'disabled' : 'expired'
  }

  /** Why an intent id is not found: 'expired' if it names a known domain (ids the runtime made) at a slice it has run, else 'unknown'. */
  #lostIntent(view: View, intentId: string): JournalReason {
    // An id the runtime made names its domain: expired when that domain exists, unless the
    // slice it names is past the domain's newest (then no slice ever made it).
    const made = RUNTIME_ID.exec(intentId)
    for (const { domain, key } of owners(intentId)) {
      const meta = view.meta(domain, key)
      if (meta === undefined) continue
      if (made !== null && Number.parseInt(made[2]!, 16) > meta.n) return 'unknown'
      return this.#missing(meta)
    }
    return 'unknown'
  }

  #read<T>(query: (view: View) => T): T {
    const snapshot = this.#store.snapshot()
    try {
      return query(new View(snapshot))
    } finally {
      snapshot.close()
    }
  }
}

/** One located entry: where it is and its node in a lineage answer. */
interface Located {
  readonly where: string
  readonly domain: string
  readonly key: string
  readonly entry: StoredEntry
  readonly node: LineageNode
}

/** The two trees at one pinned version, and the lookups the queries share. */
class View {
  readonly runtime: SnapshotTree<Uint8Array>
  readonly journal: SnapshotTree<Uint8Array>
  readonly #indexes = new Map<string, DomainIndex>()
  /** Each domain's retained entries by slice, read once per query (a domain holds at most its retention). */
  readonly #retained = new Map<string, Map<number, Buffer>>()

  constructor(snapshot: Snapshot<Buffer>) {
    this.runtime = snapshot.tree<Uint8Array>(RUNTIME_TREE)
    this.journal = snapshot.tree<Uint8Array>(JOURNAL_TREE)
  }

  meta(domain: string, key: string): Meta | undefined {
    const bytes = readMetaBytes((engineKey) => this.runtime.get(engineKey), domainId(domain, key))
    return bytes === undefined ? undefined : (decode(bytes) as Meta)
  }

  #entries(domain: string, key: string): Map<number, Buffer> {
    const id = domainId(domain, key)
    let entries = this.#retained.get(id)
    if (entries === undefined) {
      entries = new Map()
      for (const { slice, bytes } of entriesOf(this.journal, id, headOf(this.meta(domain, key)), firstOf(this.meta(domain, key)), 1, SLICE_MAX)) entries.set(slice, bytes)
      this.#retained.set(id, entries)
    }
    return entries
  }

  entry(slice: number, stored: StoredEntry): JournalEntry {
    return {
      slice,
      at: stored.at,
      intent: intentOf(stored),
      changes: stored.ch.map(([path, before, after]) => ({ path: displayPath(path), before: decodeOrUndefined(before), after: decodeOrUndefined(after) })),
      effects: stored.fx.map(([id, name, payload, attempt]) => ({ id, name, payload: decodeOrUndefined(payload), attempt, outcome: this.#outcome(id, attempt) })),
      messages: stored.ms.map(([id, domain, key, type]) => ({ id, domain, key, type })),
      timers: stored.tm.map(([id, type, due]) => ({ id, type, due })),
      cancelled: stored.cx,
      reply: decodeOrUndefined(stored.rp),
      error: stored.er,
      migrated: stored.mg,
      valuesOmitted: stored.o,
    }
  }

  #outcome(effectId: string, attempt: number): EffectOutcome {
    const bytes = this.journal.get(effectKey(effectId))
    if (bytes === undefined) return { status: 'unknown' }
    const effect = decode(bytes) as StoredEffect
    if (effect.a !== attempt) return { status: 'unknown' }
    if (effect.o === null) return { status: 'pending', attempt }
    const [ok, slice] = effect.o
    const settled = this.#entries(effect.d[0], effect.d[1]).get(slice)
    const payload = settled === undefined ? undefined : (decodeOrUndefined(decodeEntry(settled).p) as { result?: unknown; error?: unknown } | undefined)
    return ok ? { status: 'done', attempt, slice, result: payload?.result } : { status: 'failed', attempt, slice, error: payload?.error }
  }

  /** Where `intentId` ran (for an id a sender gave to several domains, the first found). */
  locate(intentId: string): Located | null {
    const prefix = locatorPrefix(intentId)
    for (const { key } of this.journal.getRange({ start: prefix, end: prefixEnd(prefix) })) {
      // `<name>\0<key>\0<slice>`; an id that itself holds NUL can put other ids' keys in this range.
      const parts = (key as string).slice(prefix.length).split('\0')
      if (parts.length !== 3) continue
      const found = this.at(parts[0]!, parts[1]!, Number.parseInt(parts[2]!, 16))
      if (found !== null && found.entry.i === intentId) return found
    }
    for (const { domain, key } of owners(intentId)) {
      if (this.meta(domain, key) === undefined) continue
      const own = this.#find(domain, key, intentId)
      if (own !== null) return own
      // A message ran in the domain its making slice sent it to.
      const made = RUNTIME_ID.exec(intentId)
      if (made === null || made[3] !== undefined) continue
      const maker = this.at(domain, key, Number.parseInt(made[2]!, 16))
      const message = maker?.entry.ms.find(([id]) => id === intentId)
      if (message !== undefined) return this.#find(message[1], message[2], intentId)
    }
    return null
  }

  /** The retained slice of one domain that ran `intentId`. */
  #find(domain: string, key: string, intentId: string): Located | null {
    const slice = this.#index(domain, key).byId.get(intentId)
    return slice === undefined ? null : this.at(domain, key, slice)
  }

  /** Intent ids and causes of one domain's retained entries, from their headers; built once per query. */
  #index(domain: string, key: string): DomainIndex {
    const id = domainId(domain, key)
    let index = this.#indexes.get(id)
    if (index === undefined) {
      index = { byId: new Map(), byCause: new Map(), byEffect: new Map() }
      for (const [slice, bytes] of this.#entries(domain, key)) {
        const header = decodeHeader(bytes)
        index.byId.set(header.i, slice)
        if (header.c !== null) append(index.byCause, header.c, slice)
        for (const effectId of header.fx) append(index.byEffect, effectId, slice)
      }
      this.#indexes.set(id, index)
    }
    return index
  }

  at(domain: string, key: string, slice: number): Located | null {
    const bytes = this.#entries(domain, key).get(slice)
    if (bytes === undefined) return null
    const entry = decodeEntry(bytes)
    const node: LineageNode = { intentId: entry.i, domain, key, slice, type: entry.y, at: entry.at, causedBy: entry.c, children: [] }
    return { where: `${domainId(domain, key)}\0${slice}`, domain, key, entry, node }
  }

  /** The slice whose intent (or effect) caused `child`, or null when it is gone. */
  parentOf(child: Located): Located | null {
    const causedBy = child.entry.c
    if (causedBy === null) return null
    const made = RUNTIME_ID.exec(child.entry.i)
    if (made === null) return null
    if (made[3] !== undefined) {
      // A settlement of attempt a: the slice of its own domain that emitted that attempt.
      const attempt = Number(made[3].slice(1))
      for (const slice of this.#index(child.domain, child.key).byEffect.get(causedBy) ?? []) {
        const emitter = this.at(child.domain, child.key, slice)
        if (emitter?.entry.fx.some(([id, , , emitted]) => id === causedBy && emitted === attempt)) return emitter
      }
      return null
    }
    // A message ran its parent in the sending domain, a timer in its own; the id names the slice.
    const [domain, key] = child.entry.f ?? [child.domain, child.key]
    const parent = this.at(domain, key, Number.parseInt(made[2]!, 16))
    return parent !== null && parent.entry.i === causedBy ? parent : null
  }

  /** The slices `parent`'s intent, or an effect it emitted, caused; in the order they ran. */
  childrenOf(parent: Located): Located[] {
    const found = new Map<string, Located>()
    const add = (child: Located | null, cause: string): void => {
      if (child !== null && child.entry.c === cause) found.set(child.where, child)
    }
    // Timers and settlements run in the parent's own domain, messages where they were sent.
    const own = this.#index(parent.domain, parent.key)
    for (const slice of own.byCause.get(parent.entry.i) ?? []) add(this.at(parent.domain, parent.key, slice), parent.entry.i)
    // The settlement of the attempt this slice emitted (a retry emits the same id again).
    for (const [effectId, , , attempt] of parent.entry.fx) {
      for (const slice of own.byCause.get(effectId) ?? []) {
        const child = this.at(parent.domain, parent.key, slice)
        if (child?.entry.i === `${effectId}#${attempt}`) add(child, effectId)
      }
    }
    for (const [messageId, domain, key] of parent.entry.ms) add(this.#find(domain, key, messageId), parent.entry.i)
    return [...found.values()].sort((a, b) => a.entry.at - b.entry.at || (a.where < b.where ? -1 : 1))
  }
}

interface DomainIndex {
  byId: Map<string, number>
  /** Slices by the intent or effect id that caused them. */
  byCause: Map<string, number[]>
  /** Slices by the effect ids they emitted. */
  byEffect: Map<string, number[]>
}

function append(index: Map<string, number[]>, key: string, slice: number): void {
  const slices = index.get(key)
  if (slices === undefined) index.set(key, [slice])
  else slices.push(slice)
}

/** Ids the runtime makes for messages, timers and effects: `<name>/<key>/<slice hex>.<n>`, and `#<attempt>` after it for a settlement. */
const RUNTIME_ID = /^(.*)\/([0-9a-f]{12})\.\d+(#\d+)?$/

/**
 * The domains an id may name: every split of the part before its last '/' into name and
 * key (both may hold '/'). Ids the runtime makes all start with `<name>/<key>/`.
 */
function* owners(intentId: string): Generator<{ domain: string; key: string }> {
  const owner = intentId.slice(0, Math.max(0, intentId.lastIndexOf('/')))
  for (let at = owner.indexOf('/'); at >= 0; at = owner.indexOf('/', at + 1)) yield { domain: owner.slice(0, at), key: owner.slice(at + 1) }
}

/** The seq of a domain's newest time batch (lib/journal/batches.ts), if it has one. */
function headOf(meta: Meta | undefined): number {
  return meta?.j?.[5] ?? NO_SEQ
}

/** The first slice of a domain's window: older entries a time batch still holds are expired. */
function firstOf(meta: Meta | undefined): number {
  return meta?.j?.[0] ?? 1
}

function intentOf(entry: StoredEntry): JournalIntent {
  return {
    id: entry.i,
    type: entry.y,
    payload: decodeOrUndefined(entry.p),
    causedBy: entry.c,
    root: entry.r,
    from: entry.f === null ? null : { domain: entry.f[0], key: entry.f[1] },
  }
}

function decodeOrUndefined(bytes: Uint8Array | null): unknown {
  return bytes === null ? undefined : decode(bytes)
}

function displayPath(path: string): string {
  return path.replace('\0', '.')
}

/** What is left of `parts` below the changed path, or null when the change is elsewhere. */
function matchPath(changed: string, parts: readonly string[]): readonly string[] | null {
  const separator = changed.indexOf('\0')
  if (separator < 0) return changed === parts[0] ? parts.slice(1) : null
  if (changed.slice(0, separator) !== parts[0]) return null
  if (parts.length === 1) return []
  return changed.slice(separator + 1) === parts[1] ? parts.slice(2) : null
}

function valueAt(value: unknown, parts: readonly string[]): unknown {
  let current = value
  for (const part of parts) {
    if (current === null || typeof current !== 'object') return undefined
    current = current instanceof Map ? current.get(part) : (current as Record<string, unknown>)[part]
  }
  return current
}

/** Plain fields as values, map() fields as objects of their entries; declared fields get their defaults. */
function stateObject(stored: Map<string, Uint8Array>, definition: DomainDefinition | undefined): Record<string, unknown> {
  const state: Record<string, unknown> = {}
  if (definition !== undefined) {
    for (const info of definition.fields.values()) {
      if (info.kind === 'map') state[info.name] = {}
      else if (info.defaultBytes !== null) state[info.name] = decode(info.defaultBytes)
    }
  }
  for (const [path, bytes] of [...stored].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const separator = path.indexOf('\0')
    if (separator < 0) {
      state[path] = decode(bytes)
      continue
    }
    const field = path.slice(0, separator)
    const entries = (state[field] ??= {}) as Record<string, unknown>
    entries[path.slice(separator + 1)] = decode(bytes)
  }
  return state
}

function checkDomain(domain: unknown, key: unknown): void {
  if (typeof domain !== 'string' || domain.length === 0) throw new VedError('EINVAL', `a domain name must be a non-empty string, got ${describeValue(domain)}`)
  if (typeof key !== 'string') throw new VedError('EINVAL', `a domain key must be a string, got ${describeValue(key)}`)
}

function sliceOption(value: unknown, name: string, min = 0): number | undefined {
  if (value === undefined) return undefined
  if (!Number.isSafeInteger(value) || (value as number) < min) throw new VedError('EINVAL', `journal option ${name} must be an integer >= ${min}, got ${describeValue(value)}`)
  return value as number
}
