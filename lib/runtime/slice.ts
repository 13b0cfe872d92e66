// One slice: run one handler on one intent against a draft, then write its whole outcome
// into the pending writes, or, if the handler failed, only the fact that it failed.
//
//   check the intent is still live (timer not cancelled, effect not settled) -> else skip
//   migrate if the stored version is older (its delta is kept even if the handler fails)
//   run the handler (twice under checkDeterminism) -> delta, reply, effects, messages, timers
//   success: state delta + outbox + inboxes + timers     failure: none of these
//   always:  consume the intent, meta (slice count), the remembered reply of a send with id
//
// Invariants:
// - A slice touches PendingWrites only after the handler returned and its delta was
//   encoded: a throw anywhere before that leaves no write behind.
// - A slice's outputs (reply, effects, messages, timers) are returned to the caller, which
//   holds them behind the output gate; nothing here releases anything.
import { limits } from '../addon.js'
import { VedError } from '../errors.js'
import { decode, encode } from './codec.js'
import { SliceContext, type EmittedEffect, type SentMessage, type SetTimer } from './context.js'
import type { DomainDefinition, IntentInfo } from './domain.js'
import { applyMemos, StateDraft, type StateDelta } from './draft.js'
import { queuedKeyOf, type Instance, type Meta, type QueuedIntent } from './instance.js'
import { domainId, inboxKey, outboxKey, replyKey, ringKey, timerKey } from './keys.js'
import { errorInfo, type SliceRecord } from './record.js'
import { sliceTiming } from './timing.js'
import type { JournalWriter, SliceParts } from '../journal/writer.js'
import type { PendingWrites } from './writes.js'

export interface SliceEnv {
  readonly writes: PendingWrites
  readonly checkDeterminism: boolean
  /** Replies remembered per domain for sends with an id. */
  readonly replyMemoryCount: number
  /** Build a SliceRecord (someone listens). */
  readonly observe: boolean
  /** Records each slice into the causal journal; null when the journal is off. */
  readonly journal: JournalWriter | null
  definitionOf(name: string): DomainDefinition | undefined
  /** The next global inbox sequence number. */
  nextInboxSeq(): number
  /** The instance's meta changed; it must reach PendingWrites before the drain commits. */
  metaChanged(instance: Instance): void
}

/** A stored outbox entry. */
export interface OutboxEntry {
  effect: string
  payload: Buffer | null
  attempt: number
  root: string
  causedBy: string
}

/** A stored inbox message or timer: an intent waiting for its domain. */
export interface StoredIntent {
  id: string
  type: string
  payload: Buffer | null
  causedBy: string | null
  root: string
  from: { domain: string; key: string } | null
  /** Timers only: when it fires (ms since the epoch). */
  due?: number
}

/** What the output gate releases once the slice is durable. */
export interface SliceOutputs {
  readonly instance: Instance
  readonly intent: QueuedIntent
  readonly ok: boolean
  readonly reply: unknown
  readonly error: unknown
  readonly effects: ReadonlyArray<{ key: string; entry: OutboxEntry; id: string }>
  readonly messages: ReadonlyArray<{ key: string; domain: string; domainKey: string; stored: StoredIntent }>
  readonly timers: ReadonlyArray<{ key: string; stored: StoredIntent }>
  readonly cancelled: readonly string[]
  readonly record: SliceRecord | null
}

/** A quarter of the engine's transaction limit: a slice always fits in a commit next to others. */
const SLICE_SIZE_BYTES_MAX = Math.floor(limits.txnSizeBytesMax / 4)

/** When the last handler returned (sliceTiming only; under checkDeterminism, the second run). */
let handlerReturnedMs = 0

interface Run {
  delta: StateDelta
  reply: unknown
  replyBytes: Buffer | null
  ctx: SliceContext
}

/** Runs `intent` on `instance`; null when the intent is no longer live (nothing written). */
export function runSlice(env: SliceEnv, instance: Instance, intent: QueuedIntent): SliceOutputs | null {
  const { writes } = env
  if (!isLive(writes, intent)) {
    const queuedKey = queuedKeyOf(intent.source)
    if (queuedKey !== null) instance.queued.delete(queuedKey)
    return null
  }
  const definition = instance.definition
  const meta = instance.meta(writes)
  if (meta.v > definition.version) {
    // Registration refuses such stores; this guards a definition swapped behind its back.
    const error = new VedError('EVERSION', `domain ${definition.name}/${instance.key} is stored by version ${meta.v}, newer than this definition (${definition.version})`)
    return failedOutputs(instance, intent, error, null)
  }
  if (intent.source.kind === 'migrate') {
    instance.migrationQueued = false
    // An earlier slice may have migrated the domain already.
    if (meta.v >= definition.version || meta.n === 0) return null
  }
  const slice = meta.n + 1
  const now = Date.now()
  let migrated: [number, number] | null = null
  let migration: Migration | null = null
  let run: Run | null = null
  let error: unknown = null
  try {
    if (meta.v < definition.version && meta.n > 0) {
      migration = migrate(env, instance, meta)
      migrated = migration.versions
    }
    run = intent.source.kind === 'migrate' ? emptyRun(env, instance, slice, now, intent, meta) : execute(env, instance, intent, slice, now, meta)
    if (env.checkDeterminism) compareRuns(run, execute(env, instance, intent, slice, now, meta), definition, intent.info)
  } catch (caught) {
    run = null
    error = caught
  }
  const record = env.observe ? recordOf(env, instance, intent, slice, now, run, error, migrated) : null
  // Consume first: a settlement's slice may re-emit the same effect (retryOf), whose outbox
  // entry must outlive the deletion of the one being settled.
  consumeSource(env, instance, intent)
  const outputs = run === null ? failedOutputs(instance, intent, error, record) : applyRun(env, instance, intent, run, record)
  // A failed migration leaves the version as it was, to be tried again by the next slice.
  const version = migrated === null && meta.n > 0 ? meta.v : definition.version
  const journal = env.journal === null ? meta.j : env.journal.record(instance, intent, slice, now, journalParts(instance, run, error, migration), meta.j)
  // In place: a new meta per slice was GC work for every domain in memory (spreading it,
  // `{ ...meta, n }`, was the hottest line of a slice), and nothing else holds the object.
  meta.v = version
  meta.n = slice
  if (run !== null) meta.z = run.delta.sizes
  meta.j = journal
  consume(env, instance, intent, meta, run, error)
  if (sliceTiming.enabled) sliceTiming.sliceMs.push(performance.now() - handlerReturnedMs)
  return outputs
}

function isLive(writes: PendingWrites, intent: QueuedIntent): boolean {
  const source = intent.source
  if (source.kind === 'send' || source.kind === 'migrate') return true
  const stored = writes.get(source.key)
  if (stored === undefined) return false
  if (source.kind === 'settle') return (decode(stored) as OutboxEntry).attempt === source.attempt
  return true
}

function execute(env: SliceEnv, instance: Instance, intent: QueuedIntent, slice: number, now: number, meta: Meta): Run {
  const definition = instance.definition
  const draft = new StateDraft(definition, instance.id, env.writes, meta.z, false, instance.fields)
  const ctx = new SliceContext(definition, instance.key, instance.id, slice, now, intent.info, env.writes, env.definitionOf)
  const handler = definition.handlers.get(intent.info.type)
  let reply: unknown
  if (handler !== undefined) {
    reply = handler.handle(draft.proxy, intent.payload === null ? undefined : decode(intent.payload), ctx)
    if (reply instanceof Promise) {
      reply.then(undefined, () => {})
      throw new VedError('EINVAL', `handler ${definition.name}.${intent.info.type} returned a promise: handlers are synchronous, do async work in an effect`)
    }
  } else if (intent.source.kind !== 'settle') {
    throw new VedError('EINTENT', `domain ${definition.name} has no handler for intent ${JSON.stringify(intent.info.type)}`)
  }
  if (sliceTiming.enabled) handlerReturnedMs = performance.now()
  const delta = draft.collect()
  const replyBytes = reply === undefined ? null : encode(reply, `the reply of ${definition.name}.${intent.info.type}`)
  checkSliceSize(delta, ctx, definition, intent.info.type)
  return { delta, reply, replyBytes, ctx }
}

/**
 * A slice whose writes could not fit in a commit (with others) fails alone, here, rather
 * than failing the commit it would share.
 */
function checkSliceSize(delta: StateDelta, ctx: SliceContext, definition: DomainDefinition, type: string): void {
  let sizeBytes = 0
  for (const [key, bytes] of delta.writes) sizeBytes += key.length * 3 + (bytes?.length ?? 0)
  for (const item of ctx.effects) sizeBytes += item.payload?.length ?? 0
  for (const item of ctx.messages) sizeBytes += item.payload?.length ?? 0
  for (const item of ctx.timers) sizeBytes += item.payload?.length ?? 0
  if (sizeBytes > SLICE_SIZE_BYTES_MAX) {
    throw new VedError('ETXNSIZE', `slice ${definition.name}.${type} writes about ${sizeBytes} bytes, more than a slice may (${SLICE_SIZE_BYTES_MAX})`)
  }
}

/** The run of a migrate intent: no handler, so no delta beyond the migration's own. */
function emptyRun(env: SliceEnv, instance: Instance, slice: number, now: number, intent: QueuedIntent, meta: Meta): Run {
  const ctx = new SliceContext(instance.definition, instance.key, instance.id, slice, now, intent.info, env.writes, env.definitionOf)
  return { delta: { writes: [], before: [], changed: [], sizes: meta.z, memos: null }, reply: undefined, replyBytes: null, ctx }
}

interface Migration {
  versions: [number, number]
  /** [engine key, before, after] of every key the migration changed. */
  changes: Array<[string, Buffer | null, Buffer | null]>
}

/**
 * Runs the migration steps from meta.v up to the definition's version, each step reading
 * the one before through an overlay; all steps reach the pending writes, or none does.
 */
function migrate(env: SliceEnv, instance: Instance, meta: Meta): Migration {
  const definition = instance.definition
  const from = meta.v
  if (definition.migrate === null) throw new VedError('EVERSION', `domain ${definition.name} is stored by version ${from} and version ${definition.version} has no migrate`)
  const overlay = new Map<string, Buffer | null>()
  const reads = {
    get: (key: string) => (overlay.has(key) ? (overlay.get(key) ?? undefined) : env.writes.get(key)),
    prefixEntries: function* (prefix: string): Generator<[string, Buffer]> {
      for (const [key, bytes] of env.writes.prefixEntries(prefix)) if (!overlay.has(key)) yield [key, bytes]
      for (const [key, bytes] of overlay) if (bytes !== null && key.startsWith(prefix)) yield [key, bytes]
    },
  }
  let sizes = meta.z
  for (let version = from; version < definition.version; version++) {
    const draft = new StateDraft(definition, instance.id, reads, sizes, true)
    definition.migrate(draft.proxy, version)
    const delta = draft.collect()
    for (const [key, bytes] of delta.writes) overlay.set(key, bytes)
    sizes = delta.sizes
  }
  // The migration writes fields behind the memo's back (and may rename or drop them).
  instance.fields.clear()
  const changes: Migration['changes'] = []
  for (const [key, bytes] of overlay) {
    changes.push([key, env.writes.get(key) ?? null, bytes])
    bytes === null ? env.writes.del(key) : env.writes.put(key, bytes)
  }
  meta.z = sizes
  meta.v = definition.version
  return { versions: [from, definition.version], changes }
}

function compareRuns(first: Run, second: Run, definition: DomainDefinition, intent: IntentInfo): void {
  const where = `${definition.name}.${intent.type} (intent ${intent.id})`
  const a = fingerprint(first)
  const b = fingerprint(second)
  if (a.length !== b.length) throw nondeterministic(where, 'the two runs changed different keys or asked for different outputs')
  for (let i = 0; i < a.length; i++) {
    if (!a[i]!.equals(b[i]!)) throw nondeterministic(where, `the runs differ at ${describePart(first, i)}`)
  }
}

function fingerprint(run: Run): Buffer[] {
  const parts: Buffer[] = []
  for (const [key, bytes] of run.delta.writes) parts.push(Buffer.from(key), bytes ?? Buffer.alloc(0))
  parts.push(run.replyBytes ?? Buffer.alloc(0))
  parts.push(encode([run.ctx.effects, run.ctx.messages, run.ctx.timers, run.ctx.cancelled], 'slice outputs'))
  return parts
}

function describePart(run: Run, index: number): string {
  const writeParts = run.delta.writes.length * 2
  if (index < writeParts) return `state key ${JSON.stringify(run.delta.writes[Math.floor(index / 2)]![0].split('\0').slice(2).join('.'))}`
  return index === writeParts ? 'the reply' : 'the effects, messages or timers'
}

function nondeterministic(where: string, detail: string): VedError {
  return new VedError('EDETERMINISM', `${where} is not deterministic: ${detail}. Use ctx.now, ctx.random() and ctx.id() instead of Date.now(), Math.random() and random ids`)
}

function applyRun(env: SliceEnv, instance: Instance, intent: QueuedIntent, run: Run, record: SliceRecord | null): SliceOutputs {
  const { writes } = env
  for (const [key, bytes] of run.delta.writes) bytes === null ? writes.del(key) : writes.put(key, bytes)
  applyMemos(run.delta)
  const { ctx } = run
  // Most slices emit, send, set and cancel nothing: they share the empty lists.
  const effects = ctx.effects.length === 0 ? NONE : writeEffects(env, instance, intent, ctx.effects)
  const messages = ctx.messages.length === 0 ? NONE : writeMessages(env, instance, intent, ctx.messages)
  const timers = ctx.timers.length === 0 ? NONE : writeTimers(env, instance, intent, ctx.timers)
  const cancelled = ctx.cancelled.length === 0 ? NONE : ctx.cancelled.map((suffix) => timerKey(instance.id, suffix))
  for (const key of cancelled) writes.del(key)
  return { instance, intent, ok: true, reply: run.reply, error: null, effects, messages, timers, cancelled, record }
}

const NONE: readonly never[] = Object.freeze([])

function writeEffects(env: SliceEnv, instance: Instance, intent: QueuedIntent, emitted: readonly EmittedEffect[]): SliceOutputs['effects'] {
  return emitted.map((effect) => {
    const key = outboxKey(instance.id, effect.suffix)
    const entry: OutboxEntry = { effect: effect.effect, payload: effect.payload, attempt: effect.attempt, root: intent.info.root, causedBy: intent.info.id }
    env.writes.put(key, encode(entry, 'an outbox entry'))
    return { key, entry, id: effect.id }
  })
}

function writeMessages(env: SliceEnv, instance: Instance, intent: QueuedIntent, sent: readonly SentMessage[]): SliceOutputs['messages'] {
  const from = { domain: instance.definition.name, key: instance.key }
  return sent.map((message) => {
    const key = inboxKey(domainId(message.domain, message.key), env.nextInboxSeq())
    const stored: StoredIntent = { id: message.id, type: message.type, payload: message.payload, causedBy: intent.info.id, root: intent.info.root, from }
    env.writes.put(key, encode(stored, 'an inbox message'))
    return { key, domain: message.domain, domainKey: message.key, stored }
  })
}

function writeTimers(env: SliceEnv, instance: Instance, intent: QueuedIntent, set: readonly SetTimer[]): SliceOutputs['timers'] {
  return set.map((timer) => {
    const key = timerKey(instance.id, timer.suffix)
    const stored: StoredIntent = { id: timer.id, type: timer.type, payload: timer.payload, causedBy: intent.info.id, root: intent.info.root, from: null, due: timer.due }
    env.writes.put(key, encode(stored, 'a timer'))
    return { key, stored }
  })
}

function failedOutputs(instance: Instance, intent: QueuedIntent, error: unknown, record: SliceRecord | null): SliceOutputs {
  return { instance, intent, ok: false, reply: undefined, error, effects: NONE, messages: NONE, timers: NONE, cancelled: NONE, record }
}

/** Removes the intent from where it waited (inbox, timers, outbox). */
function consumeSource(env: SliceEnv, instance: Instance, intent: QueuedIntent): void {
  const source = intent.source
  if (source.kind === 'send' || source.kind === 'migrate') return
  env.writes.del(source.key)
  instance.queued.delete(queuedKeyOf(source)!)
}

/** Counts the slice and remembers the reply of a send with an id. */
function consume(env: SliceEnv, instance: Instance, intent: QueuedIntent, meta: Meta, run: Run | null, error: unknown): void {
  const { writes } = env
  const source = intent.source
  if (source.kind === 'send' && source.remember && env.replyMemoryCount > 0) {
    const remembered = run !== null ? { ok: true, v: run.replyBytes } : { ok: false, e: errorInfo(error) }
    const slot = meta.r % env.replyMemoryCount
    const ring = ringKey(instance.id, slot)
    const evicted = writes.get(ring)
    if (evicted !== undefined) writes.del(replyKey(instance.id, decode(evicted) as string))
    writes.put(ring, encode(intent.info.id, 'a reply ring slot'))
    writes.put(replyKey(instance.id, intent.info.id), encode(remembered, 'a remembered reply'))
    meta.r++
  }
  instance.setMeta(meta)
  // Written once per drain, not once per slice: consecutive slices of one domain overwrite it.
  env.metaChanged(instance)
}

/** The slice as the journal stores it: bytes it already has, paths relative to the domain's state. */
function journalParts(instance: Instance, run: Run | null, error: unknown, migration: Migration | null): SliceParts {
  // `s<id>\0` (keys.ts fieldKey), measured rather than built for each slice.
  const prefixLength = instance.id.length + 2
  const changes: SliceParts['changes'] = []
  if (migration !== null) for (const [key, before, after] of migration.changes) changes.push([key.slice(prefixLength), before, after])
  if (run !== null) {
    const { writes, before } = run.delta
    for (let i = 0; i < writes.length; i++) changes.push([writes[i]![0].slice(prefixLength), before[i]!, writes[i]![1]])
  }
  const cancelled = run?.ctx.cancelled ?? NONE
  return {
    changes,
    effects: run?.ctx.effects ?? NONE,
    messages: run?.ctx.messages ?? NONE,
    timers: run?.ctx.timers ?? NONE,
    cancelled: cancelled.length === 0 ? NONE : cancelled.map((suffix) => `${instance.definition.name}/${instance.key}/${suffix}`),
    reply: run?.replyBytes ?? null,
    error: run === null ? errorInfo(error) : null,
    migrated: migration?.versions ?? null,
  }
}

function recordOf(env: SliceEnv, instance: Instance, intent: QueuedIntent, slice: number, now: number, run: Run | null, error: unknown, migrated: [number, number] | null): SliceRecord {
  const prefixLength = `s${instance.id}\0`.length
  const changes = (run?.delta.writes ?? []).map(([key, bytes]) => {
    const before = env.writes.get(key)
    return { key: key.slice(prefixLength), before: before === undefined ? undefined : decode(before), after: bytes === null ? undefined : decode(bytes) }
  })
  return {
    domain: instance.definition.name,
    key: instance.key,
    slice,
    intent: intent.info,
    now,
    changes,
    effects: run?.ctx.effects.map((e) => ({ id: e.id, effect: e.effect, attempt: e.attempt })) ?? [],
    messages: run?.ctx.messages.map((m) => ({ id: m.id, domain: m.domain, key: m.key, type: m.type })) ?? [],
    timers: run?.ctx.timers.map((t) => ({ id: t.id, type: t.type, due: t.due })) ?? [],
    cancelled: run?.ctx.cancelled ?? [],
    reply: run?.reply,
    error: run === null ? errorInfo(error) : null,
    migrated,
  }
}
