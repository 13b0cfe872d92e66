// JournalWriter: records every slice into the journal tree, in the slice's own commit, and
// compacts what falls out of the retention window in the background.
//
//   slice -> record(): entry + locator + child + effect index keys -> PendingWrites
//            (the domain's JournalMeta counts entries and bytes; over the bound -> backlog)
//   timer -> step(): for backlog domains, oldest entries first, at most STEP_ENTRIES_MAX
//            deletions -> PendingWrites -> the next drain's commit
//   sweep -> every SWEEP_INTERVAL_MS, the metas of registered domains, a chunk per tick:
//            idle domains whose oldest entry aged out, and domains with kept entries
//
// Invariants:
// - An entry and its index keys are written and deleted in the same commit as the domain's
//   JournalMeta, so the counts always match the entries on disk.
// - Retention per domain: entries of slices [first, n] are the window; compaction deletes
//   from `first` while the window is over keepSlices, keepBytes or keepMs. An entry whose
//   lineage (root) has an unsettled effect is not deleted: it leaves the window as a "kept"
//   entry (k marker) and is deleted by a later step once that lineage settled.
// - Bounded work: a step deletes at most STEP_ENTRIES_MAX entries; the backlog holds each
//   domain at most once (bounded by the number of domains).
import { limits } from '../addon.js'
import { decode, encode } from '../runtime/codec.js'
import type { DomainDefinition } from '../runtime/domain.js'
import type { Instance, Meta, QueuedIntent } from '../runtime/instance.js'
import type { PendingWrites } from '../runtime/writes.js'
import { batchesOf, SLICE_MAX } from './batches.js'
import { accountedBytes, decodeHeader, encodeBatch, encodeEntry, peekEntry, splitBatch, type EntryHeader, type JournalMeta, type StoredEffect } from './entry.js'
import { effectKey, entryKey, keptKey, keptRange, locatorKey, sliceOfEntryKey, unsettledKey } from './keys.js'
import type { JournalRetention } from './options.js'

/**
 * Entries deleted by one step at most: keeps the commit it rides on short, yet lets compaction
 * keep up with one domain running flat out (512 fell behind: 22K of 94K deleted by the end of a
 * 95K-slice burst, the journal past its bound while the burst lasted).
 */
const STEP_ENTRIES_MAX = 4096
/** Pause between steps while the backlog is not empty (a step also runs when a domain first goes over). */
const STEP_INTERVAL_MS = 5
/** How often idle domains are checked for entries past keepMs. */
const SWEEP_INTERVAL_MS = 60_000
/** Metas read per sweep tick. */
const SWEEP_CHUNK = 1024

export interface JournalHost {
  readonly writes: PendingWrites
  definitionOf(name: string): DomainDefinition | undefined
  definitions(): Iterable<DomainDefinition>
  instance(definition: DomainDefinition, key: string): Instance
  metaChanged(instance: Instance): void
  scheduleDrain(): void
  /** False once the runtime closed or failed: no more steps. */
  running(): boolean
}

/** What one slice did, in the writer's terms. */
export interface SliceParts {
  /** [path, before, after], migration changes first. */
  changes: Array<[string, Buffer | null, Buffer | null]>
  effects: ReadonlyArray<{ readonly id: string; readonly effect: string; readonly payload: Buffer | null; readonly attempt: number }>
  messages: ReadonlyArray<{ readonly id: string; readonly domain: string; readonly key: string; readonly type: string }>
  timers: ReadonlyArray<{ readonly id: string; readonly type: string; readonly due: number }>
  cancelled: readonly string[]
  reply: Buffer | null
  error: { name: string; message: string; code?: string } | null
  migrated: [number, number] | null
}

export interface JournalStats {
  /** Entries recorded since open. */
  entriesWritten: number
  /** Entries deleted by compaction since open. */
  entriesDeleted: number
  /** Entries that left the window but were kept for an unsettled lineage, since open. */
  entriesKept: number
  /** Compaction steps run since open. */
  steps: number
  /** Domains waiting for compaction. */
  backlogDomains: number
  /** Full sweeps of the stored domains finished since open. */
  sweeps: number
}

export class JournalWriter {
  readonly retention: JournalRetention
  readonly #host: JournalHost
  /** Domains over their bound: id -> [name, key]. Map order = step order. */
  readonly #backlog = new Map<string, [string, string]>()
  #stepTimer: NodeJS.Timeout | null = null
  #sweepTimer: NodeJS.Timeout | null = null
  #stats: JournalStats = { entriesWritten: 0, entriesDeleted: 0, entriesKept: 0, steps: 0, backlogDomains: 0, sweeps: 0 }
  /**
   * Unsettled effects per root, mirroring the `u` keys (read once at open, then kept by
   * record()): compaction asks for every entry it drops, and a map lookup is what that can afford.
   */
  readonly #unsettled = new Map<string, number>()
  /** The batch each domain is filling in the current drain (sealed before the commit). */
  readonly #open = new Map<string, OpenBatch>()

  /** Value bytes an entry keeps at most (payloads, reply, before/after); beyond, it keeps none. */
  readonly #valueBytesMax: number

  constructor(host: JournalHost, retention: JournalRetention) {
    this.#host = host
    this.retention = retention
    this.#valueBytesMax = Math.min(retention.keepBytes, ENTRY_VALUE_BYTES_MAX)
    for (const { key } of host.writes.journalTree.getRange({ start: 'u', end: 'v' })) {
      const root = (key as string).slice(1, (key as string).lastIndexOf('\0'))
      this.#unsettled.set(root, (this.#unsettled.get(root) ?? 0) + 1)
    }
    this.#sweepTimer = setInterval(() => this.#sweep(), Math.min(SWEEP_INTERVAL_MS, retention.keepMs))
    this.#sweepTimer.unref()
  }

  /** Writes the batches of the slices recorded since the last seal; the runtime calls it before each commit. */
  seal(): void {
    for (const [id, batch] of this.#open) this.#seal(id, batch)
  }

  #seal(id: string, batch: OpenBatch): void {
    this.#host.writes.putJournal(batch.key, encodeBatch(batch.entries))
    this.#open.delete(id)
  }

  stats(): JournalStats {
    return { ...this.#stats, backlogDomains: this.#backlog.size }
  }

  close(): void {
    if (this.#stepTimer !== null) clearTimeout(this.#stepTimer)
    if (this.#sweepTimer !== null) clearInterval(this.#sweepTimer)
    this.#stepTimer = null
    this.#sweepTimer = null
    this.#backlog.clear()
  }

  /** Writes the entry of one slice and its index keys; returns the domain's new JournalMeta. */
  record(instance: Instance, intent: QueuedIntent, slice: number, now: number, parts: SliceParts, meta: JournalMeta | undefined): JournalMeta {
    const writes = this.#host.writes
    const info = intent.info
    const id = instance.id
    const source = intent.source
    // Only ids the sender chose need an index key: the runtime's own ids name their domain.
    const hasLocator = source.kind === 'send' && source.remember
    const bytes = encodeEntry({
      at: now,
      i: info.id,
      y: info.type,
      p: intent.payload,
      c: info.causedBy,
      r: info.root,
      from: info.from,
      ch: parts.changes,
      fx: parts.effects,
      ms: parts.messages,
      tm: parts.timers,
      cx: parts.cancelled,
      rp: parts.reply,
      er: parts.error,
      mg: parts.migrated,
      // A slice too big to keep twice (its values again in the journal) keeps its shape only.
      o: valueBytesOf(intent.payload, parts) > this.#valueBytesMax,
      l: hasLocator,
    })
    let batch = this.#open.get(id)
    if (batch !== undefined && batch.bytes + bytes.length > BATCH_BYTES_MAX) {
      this.#seal(id, batch)
      batch = undefined
    }
    if (batch === undefined) {
      batch = { key: entryKey(id, slice), entries: [], bytes: 0 }
      this.#open.set(id, batch)
    }
    batch.entries.push(bytes)
    batch.bytes += bytes.length
    // Counted now, so that the drain's bound on a commit's bytes sees the entry before the batch is written.
    writes.countBytes(bytes.length)
    if (hasLocator) writes.putJournal(locatorKey(info.id, id, slice), EMPTY)
    if (source.kind === 'settle' && info.causedBy !== null) {
      // The effect is settled (for this attempt): its lineage no longer holds entries back.
      const effectBytes = writes.getJournal(effectKey(info.causedBy))
      if (effectBytes !== undefined) {
        const effect = decode(effectBytes) as StoredEffect
        if (effect.a === source.attempt) {
          effect.o = [info.type.endsWith('.done'), slice]
          writes.putJournal(effectKey(info.causedBy), encode(effect, 'an effect record'))
        }
      }
      this.#settled(info.root, info.causedBy)
    }
    for (const effect of parts.effects) {
      const stored: StoredEffect = { d: [instance.definition.name, instance.key], s: slice, i: info.id, a: effect.attempt, o: null }
      writes.putJournal(effectKey(effect.id), encode(stored, 'an effect record'))
      // A retry may be emitted while its first attempt is still unsettled: count it once.
      if (effect.attempt === 1 || writes.getJournal(unsettledKey(info.root, effect.id)) === undefined) {
        writes.putJournal(unsettledKey(info.root, effect.id), EMPTY)
        this.#unsettled.set(info.root, (this.#unsettled.get(info.root) ?? 0) + 1)
      }
    }
    this.#stats.entriesWritten++
    const size = accountedBytes(batch.key.length, bytes.length + 4, info.id, info.root, hasLocator, effectIdsOf(parts), id.length)
    const next: JournalMeta = meta === undefined ? [slice, 1, size, now, 0] : [meta[0], meta[1] + 1, meta[2] + size, meta[1] === 0 ? now : meta[3], meta[4]]
    if (this.#over(next, now) || (source.kind === 'settle' && next[4] > 0)) this.#enqueue(id, instance.definition.name, instance.key)
    return next
  }

  #settled(root: string, effectId: string): void {
    const key = unsettledKey(root, effectId)
    if (this.#host.writes.getJournal(key) === undefined) return
    this.#host.writes.delJournal(key)
    const count = (this.#unsettled.get(root) ?? 1) - 1
    if (count > 0) this.#unsettled.set(root, count)
    else this.#unsettled.delete(root)
  }

  #over(meta: JournalMeta, now: number): boolean {
    const { keepSlices, keepBytes, keepMs } = this.retention
    return meta[1] > keepSlices || meta[2] > keepBytes || (meta[1] > 0 && now - meta[3] > keepMs)
  }

  #enqueue(id: string, name: string, key: string): void {
    if (!this.#backlog.has(id)) this.#backlog.set(id, [name, key])
    if (this.#stepTimer === null && this.#host.running()) this.#stepTimer = setTimeout(() => this.#step(), STEP_INTERVAL_MS)
  }

  /** One compaction step over the backlog; its writes commit with the next drain. */
  #step(): void {
    this.#stepTimer = null
    if (!this.#host.running()) return
    this.#stats.steps++
    let budget = STEP_ENTRIES_MAX
    const now = Date.now()
    for (const [id, [name, key]] of this.#backlog) {
      if (budget <= 0) break
      this.#backlog.delete(id)
      const definition = this.#host.definitionOf(name)
      if (definition === undefined) continue
      const used = this.#compact(this.#host.instance(definition, key), now, budget)
      budget -= used.deleted
      // Not done within the budget: back to the end of the line.
      if (!used.done) this.#backlog.set(id, [name, key])
    }
    if (budget < STEP_ENTRIES_MAX) this.#host.scheduleDrain()
    if (this.#backlog.size > 0) this.#stepTimer = setTimeout(() => this.#step(), STEP_INTERVAL_MS)
  }

  /**
   * Deletes what one domain has past its bound, oldest first, within `budget` entries. A batch
   * whose oldest entries expire loses them: the rest is written again under the key of its
   * first kept slice. An expired entry of an unsettled lineage moves to a batch of its own.
   */
  #compact(instance: Instance, now: number, budget: number): { deleted: number; done: boolean } {
    const writes = this.#host.writes
    const id = instance.id
    const meta: Meta = instance.meta(writes)
    if (meta.j === undefined) return { deleted: 0, done: true }
    let [first, count, bytes, oldestAt, kept] = meta.j
    let deleted = 0
    // Kept entries whose lineage has settled since.
    if (kept > 0) {
      for (const { key } of writes.journalTree.getRange(keptRange(id))) {
        if (deleted >= budget) break
        const slice = sliceOfEntryKey(key as string)
        const alone = writes.getJournal(entryKey(id, slice))
        const entry = alone === undefined ? null : decodeHeader(splitBatch(alone)[0]!)
        if (entry !== null && this.#pinned(entry.r)) continue
        if (entry !== null) {
          writes.delJournal(entryKey(id, slice))
          this.#deleteIndexes(instance, slice, entry)
          this.#stats.entriesDeleted++
        }
        writes.delJournal(key as string)
        kept--
        deleted++
      }
    }
    let done = true
    let exhausted = true
    batches: for (const batch of batchesOf(writes.journalTree, id, first, SLICE_MAX)) {
      let cut = 0
      const moved: Array<[number, Buffer]> = []
      for (let i = batch.first < first ? first - batch.first : 0; i < batch.entries.length; i++) {
        const slice = batch.first + i
        const bytesOfEntry = batch.entries[i]!
        const peek = peekEntry(bytesOfEntry)
        // The oldest entry of the window is the one in hand.
        oldestAt = peek.at
        if (!this.#over([first, count, bytes, oldestAt, kept], now)) {
          exhausted = false
          break
        }
        if (deleted >= budget) {
          done = false
          exhausted = false
          break
        }
        // Most entries own no index key and pin nothing: only those that may are decoded.
        const entry = peek.indexed || this.#unsettled.size > 0 ? decodeHeader(bytesOfEntry) : null
        if (entry !== null && this.#pinned(entry.r)) {
          moved.push([slice, bytesOfEntry])
          kept++
          this.#stats.entriesKept++
        } else {
          if (entry !== null) this.#deleteIndexes(instance, slice, entry)
          this.#stats.entriesDeleted++
        }
        deleted++
        count--
        bytes -= entry === null ? batch.key.length + bytesOfEntry.length + 4 : accountedBytes(batch.key.length, bytesOfEntry.length + 4, entry.i, entry.r, entry.l, entry.fx, id.length)
        first = slice + 1
        cut = i + 1
      }
      if (cut > 0) {
        // Delete first: a moved entry of the batch's first slice takes the same key again.
        writes.delJournal(batch.key)
        for (const [slice, entry] of moved) {
          writes.putJournal(entryKey(id, slice), encodeBatch([entry]))
          writes.putJournal(keptKey(id, slice), EMPTY)
        }
        if (cut < batch.entries.length) writes.putJournal(entryKey(id, batch.first + cut), encodeBatch(batch.entries.slice(cut)))
      }
      if (!exhausted) break batches
    }
    if (exhausted) {
      // Nothing left in the window (possible when one entry alone is over keepBytes).
      count = 0
      bytes = 0
      oldestAt = now
    }
    if (deleted > 0 || kept !== meta.j[4]) {
      instance.setMeta({ ...meta, j: [first, count, bytes, oldestAt, kept] })
      this.#host.metaChanged(instance)
    }
    return { deleted, done }
  }

  #pinned(root: string): boolean {
    return this.#unsettled.has(root)
  }

  /** Deletes the index keys that still point at an entry being deleted. */
  #deleteIndexes(instance: Instance, slice: number, entry: EntryHeader): void {
    const writes = this.#host.writes
    const id = instance.id
    if (entry.l) writes.delJournal(locatorKey(entry.i, id, slice))
    // A retry re-emits an effect under the same id: its x key then belongs to the later slice.
    for (const effectId of entry.fx) {
      const effectBytes = writes.getJournal(effectKey(effectId))
      if (effectBytes !== undefined && (decode(effectBytes) as StoredEffect).s === slice) writes.delJournal(effectKey(effectId))
    }
  }

  // ---- the sweep: domains that do not run slices still age -----------------------------------

  #sweepCursor: Iterator<[string, Buffer]> | null = null

  #sweep(): void {
    if (!this.#host.running() || this.#sweepCursor !== null) return
    this.#sweepCursor = this.#metas()
    this.#sweepChunk()
  }

  *#metas(): Generator<[string, Buffer]> {
    for (const definition of [...this.#host.definitions()]) {
      const prefix = `m${definition.name}\0`
      yield* this.#host.writes.prefixEntries(prefix)
    }
  }

  #sweepChunk(): void {
    const cursor = this.#sweepCursor
    if (cursor === null || !this.#host.running()) {
      this.#sweepCursor = null
      return
    }
    const now = Date.now()
    for (let i = 0; i < SWEEP_CHUNK; i++) {
      const next = cursor.next()
      if (next.done === true) {
        this.#sweepCursor = null
        this.#stats.sweeps++
        return
      }
      const [metaKey, bytes] = next.value
      const meta = decode(bytes) as Meta
      if (meta.j === undefined) continue
      if (meta.j[4] > 0 || this.#over(meta.j, now)) {
        const body = metaKey.slice(1)
        const separator = body.indexOf('\0')
        this.#enqueue(body, body.slice(0, separator), body.slice(separator + 1))
      }
    }
    setImmediate(() => this.#sweepChunk())
  }
}

const EMPTY = Buffer.alloc(0)

/** A batch holds entries up to this many bytes; a burst past it starts another. */
const BATCH_BYTES_MAX = 1024 * 1024

interface OpenBatch {
  readonly key: string
  readonly entries: Buffer[]
  bytes: number
}

/**
 * Value bytes one entry may keep, whatever keepBytes says: a quarter of the engine's value
 * limit, so an entry always fits in one value next to the slice's own writes.
 */
const ENTRY_VALUE_BYTES_MAX = Math.floor(limits.valueSizeBytesMax / 4)

function* effectIdsOf(parts: SliceParts): Generator<string> {
  for (const effect of parts.effects) yield effect.id
}

function valueBytesOf(payload: Buffer | null, parts: SliceParts): number {
  let bytes = (payload?.length ?? 0) + (parts.reply?.length ?? 0)
  for (const [, before, after] of parts.changes) bytes += (before?.length ?? 0) + (after?.length ?? 0)
  for (const effect of parts.effects) bytes += effect.payload?.length ?? 0
  return bytes
}
