// defineDomain and map(): what a user declares, and the types that carry payloads and
// replies from the handlers to `send`.
//
// Invariants:
// - A definition is validated once, here (EINVAL with the offending part named), and frozen:
//   the runtime never re-checks it per slice.
// - Defaults of plain fields are encoded once; a domain that never wrote a field reads a
//   fresh decode of its default, so handlers can mutate it without touching the definition.
// - `<effect>.done` / `<effect>.failed` handlers are optional: an outcome without one still
//   settles (the outbox entry goes) in a slice of its own.
import { VedError } from '../errors.js'
import { checkOptionNames } from '../options.js'
import { encode } from './codec.js'
import { checkName } from './keys.js'
import { isStandardSchema, type StandardSchemaV1 } from './schema.js'

const MAP_FIELD = Symbol('ved.map')

/** Longest field name: leaves a map entry key at least ~250 bytes under the 1 KiB key limit. */
const FIELD_NAME_BYTES_MAX = 256

/** A keyed collection field: one engine key per entry. Declare with map<K, V>(). */
export interface MapField<K extends string = string, V = unknown> {
  readonly [MAP_FIELD]: { readonly schema: StandardSchemaV1 | null }
  /** Type carrier only; never set. */
  readonly __entry?: [K, V]
}

/**
 * Declares a keyed collection. `schema` (any Standard Schema) validates each entry a slice
 * writes; only changed entries are checked, so a slice stays O(k log N).
 */
export function map<K extends string = string, V = unknown>(options?: { schema?: StandardSchemaV1<unknown, V> }): MapField<K, V> {
  const schema = options?.schema ?? null
  if (schema !== null && !isStandardSchema(schema)) throw new VedError('EINVAL', 'map({ schema }) needs a Standard Schema validator')
  return Object.freeze({ [MAP_FIELD]: Object.freeze({ schema }) }) as MapField<K, V>
}

export function isMapField(value: unknown): value is MapField {
  return typeof value === 'object' && value !== null && MAP_FIELD in value
}

export function mapSchemaOf(field: MapField): StandardSchemaV1 | null {
  return field[MAP_FIELD].schema
}

/** A map() field inside a handler: reads and writes go to the slice's draft. */
export interface DraftMap<K extends string, V> {
  get(key: K): V | undefined
  has(key: K): boolean
  set(key: K, value: V): this
  delete(key: K): boolean
  /** Deletes every entry: O(N), unlike everything else here. */
  clear(): void
  readonly size: number
  keys(): IterableIterator<K>
  values(): IterableIterator<V>
  entries(): IterableIterator<[K, V]>
  forEach(fn: (value: V, key: K) => void): void
  [Symbol.iterator](): IterableIterator<[K, V]>
}

/** A map() field read through handle.state: get/has/size/keys/values/entries, no writes. */
export interface MapView<K extends string, V> {
  get(key: K): V | undefined
  has(key: K): boolean
  readonly size: number
  keys(): IterableIterator<K>
  values(): IterableIterator<V>
  entries(): IterableIterator<[K, V]>
  forEach(fn: (value: V, key: K) => void): void
  [Symbol.iterator](): IterableIterator<[K, V]>
}

export type StateDeclaration = Record<string, unknown>

/** What a handler receives: plain fields to assign or mutate, map() fields as DraftMap. */
export type Draft<S> = { -readonly [F in keyof S]: S[F] extends MapField<infer K, infer V> ? DraftMap<K, V> : S[F] }

export type DeepReadonly<T> = T extends (infer I)[]
  ? readonly DeepReadonly<I>[]
  : T extends object
    ? { readonly [P in keyof T]: DeepReadonly<T[P]> }
    : T

/** handle.state: a read-only view of the newest sealed state. */
export type StateView<S> = { readonly [F in keyof S]: S[F] extends MapField<infer K, infer V> ? MapView<K, V> : DeepReadonly<S[F]> }

/** Where an intent came from, and the chain that led to it. */
export interface IntentInfo {
  /** Unique id: the sender's id for a send, derived from the causing slice otherwise. */
  readonly id: string
  readonly type: string
  /** The intent or effect whose slice produced this one; null for an external send. */
  readonly causedBy: string | null
  /** The external send that started the chain (its own id for an external send). */
  readonly root: string
  /** The sending domain of a cross-domain message, else null. */
  readonly from: { readonly domain: string; readonly key: string } | null
}

export interface EmitOptions {
  /** Re-emit a failed effect under its id (the idempotency key stays), with attempt + 1. */
  retryOf?: { readonly id: string; readonly attempt: number }
}

/** The context of one slice. Everything here is deterministic for the slice. */
export interface Context<E = Record<string, EffectImpl>> {
  /** The running domain's name and key. */
  readonly domain: string
  readonly key: string
  /** Wall-clock ms, fixed when the slice started. */
  readonly now: number
  /** The intent being handled. */
  readonly intent: IntentInfo
  /** Number of this slice in the domain's history (1 for the first). */
  readonly slice: number
  /** A number in [0, 1), from a generator seeded by the domain and the slice number. */
  random(): number
  /** A new id, unique across the store, the same if the slice runs again. */
  id(): string
  /** Asks for an effect once this slice is durable; returns the effect's id. */
  emit<N extends EffectName<E>>(effect: N, payload: N extends keyof E ? EffectPayload<E[N]> : unknown, options?: EmitOptions): string
  /** Sends an intent to another domain (or this one) once this slice is durable; returns its id. */
  send(domain: string, key: string, type: string, payload?: unknown): string
  /** A durable timer: intent `type` arrives `ms` from ctx.now. Returns the timer id. */
  after(ms: number, type: string, payload?: unknown): string
  /** Cancels a timer of this domain; false when it is unknown (fired, cancelled). */
  cancel(timerId: string): boolean
}

export interface EffectInfo {
  /** Stable across crashes and retries: the idempotency key for the outside world. */
  readonly id: string
  /** 1 for the first emit, + 1 for each re-emit through retryOf. */
  readonly attempt: number
  /** Aborted when the runtime closes. */
  readonly signal: AbortSignal
}

export type EffectImpl = (payload: any, info: EffectInfo) => unknown

/** The effect names ctx.emit accepts: any string when E is not known (the runtime refuses an undeclared one: EEFFECT). */
export type EffectName<E> = [keyof E] extends [never] ? string : keyof E & string

export type EffectPayload<F> = F extends (payload: infer P, info: EffectInfo) => unknown ? P : never
export type EffectResult<F> = F extends (payload: any, info: EffectInfo) => infer R ? Awaited<R> : never

/** The payload of `'<effect>.done'`. */
export interface EffectDone<P = unknown, R = unknown> {
  readonly id: string
  readonly payload: P
  readonly result: R
}

/** The payload of `'<effect>.failed'`. */
export interface EffectFailed<P = unknown> {
  readonly id: string
  readonly payload: P
  readonly error: { readonly name: string; readonly message: string; readonly code?: string }
  readonly attempt: number
}

export type Handler<S, E> = (state: Draft<S>, payload: any, ctx: Context<E>) => unknown

/** A handler with a Standard Schema for its payload; send() rejects what it refuses (ESCHEMA). */
export interface ValidatedHandler<S, E> {
  readonly schema: StandardSchemaV1
  readonly handle: Handler<S, E>
}

export type HandlerEntry<S, E> = Handler<S, E> | ValidatedHandler<S, E>

export type PayloadOf<H> = H extends { handle: (state: any, payload: infer P, ctx: any) => unknown }
  ? P
  : H extends (state: any, payload: infer P, ctx: any) => unknown
    ? P
    : never

export type ReplyOf<H> = H extends { handle: (...args: any[]) => infer R } ? R : H extends (...args: any[]) => infer R ? R : never

export interface DomainConfig<N extends string, S extends StateDeclaration, H extends Record<string, HandlerEntry<S, any>>, E extends Record<string, EffectImpl>> {
  name: N
  /** A positive integer; raise it with a migration when the stored shape changes. */
  version: number
  /** Plain fields with their defaults, and map() fields. */
  state: S
  on: H
  /** The intersection keeps implementations contextually typed even before E is inferred. */
  effects?: E & Record<string, EffectImpl>
  /** Validates the plain fields (as one object) after each slice that changed one of them. */
  schema?: StandardSchemaV1
  /**
   * Brings a domain stored by version `fromVersion` to `fromVersion + 1`; called once per
   * step. `state` is a draft that also reads and deletes fields no longer declared.
   */
  migrate?: (state: Record<string, any>, fromVersion: number) => void
}

export interface FieldInfo {
  readonly name: string
  readonly kind: 'plain' | 'map'
  /** Encoded default (plain fields). */
  readonly defaultBytes: Buffer | null
  readonly schema: StandardSchemaV1 | null
}

export interface HandlerInfo {
  readonly handle: (state: any, payload: any, ctx: any) => unknown
  readonly schema: StandardSchemaV1 | null
}

/** Brand of a definition made by defineDomain. */
const DEFINITION = Symbol('ved.definition')

export interface DomainDefinition<N extends string = string, S extends StateDeclaration = any, H = any, E = any> {
  readonly [DEFINITION]: true
  readonly name: N
  readonly version: number
  readonly fields: ReadonlyMap<string, FieldInfo>
  readonly handlers: ReadonlyMap<string, HandlerInfo>
  readonly effects: ReadonlyMap<string, EffectImpl>
  readonly schema: StandardSchemaV1 | null
  readonly migrate: ((state: Record<string, any>, fromVersion: number) => void) | null
  /** Type carriers only; never set. */
  readonly __types?: { state: S; handlers: H; effects: E }
}

export function isDefinition(value: unknown): value is DomainDefinition {
  return typeof value === 'object' && value !== null && (value as { [DEFINITION]?: unknown })[DEFINITION] === true
}

/** Every name defineDomain reads: a misspelled one (`migrat`, `effect`) would be dropped unseen. */
const DOMAIN_CONFIG_NAMES: readonly (keyof DomainConfig<string, StateDeclaration, Record<string, never>, {}>)[] = ['name', 'version', 'state', 'on', 'effects', 'schema', 'migrate']

export function defineDomain<
  const N extends string,
  S extends StateDeclaration,
  // Handlers see Context<any>: inferring E (effects) while typing the handlers' ctx makes
  // TypeScript fix E too early, so ctx.emit checks names at run time only (EEFFECT).
  H extends Record<string, HandlerEntry<S, any>>,
  E extends Record<string, EffectImpl> = {},
>(config: DomainConfig<N, S, H, E>): DomainDefinition<N, S, H, E> {
  if (typeof config !== 'object' || config === null) throw new VedError('EINVAL', 'defineDomain needs a configuration object')
  const name = checkName(config.name, 'a domain name')
  checkOptionNames(config, DOMAIN_CONFIG_NAMES, 'defineDomain option')
  if (!Number.isSafeInteger(config.version) || config.version < 1) throw new VedError('EINVAL', `domain ${name}: version must be a positive integer`)
  if (config.migrate !== undefined && typeof config.migrate !== 'function') throw new VedError('EINVAL', `domain ${name}: migrate must be a function`)
  if (config.schema !== undefined && !isStandardSchema(config.schema)) throw new VedError('EINVAL', `domain ${name}: schema must be a Standard Schema validator`)
  const definition: DomainDefinition<N, S, H, E> = {
    [DEFINITION]: true,
    name: name as N,
    version: config.version,
    fields: fieldsOf(name, config.state),
    handlers: handlersOf(name, config.on),
    effects: effectsOf(name, config.effects ?? {}),
    schema: config.schema ?? null,
    migrate: config.migrate ?? null,
  }
  return Object.freeze(definition)
}

function fieldsOf(name: string, state: unknown): Map<string, FieldInfo> {
  if (typeof state !== 'object' || state === null || Array.isArray(state)) throw new VedError('EINVAL', `domain ${name}: state must be an object of fields`)
  const fields = new Map<string, FieldInfo>()
  for (const [field, value] of Object.entries(state)) {
    checkName(field, `domain ${name}: a field name`)
    // Room for the domain id (512 bytes at most) and a map entry key within the engine's key limit.
    if (Buffer.byteLength(field) > FIELD_NAME_BYTES_MAX) throw new VedError('EINVAL', `domain ${name}: field name ${field.slice(0, 20)}... is over ${FIELD_NAME_BYTES_MAX} bytes`)
    if (isMapField(value)) fields.set(field, { name: field, kind: 'map', defaultBytes: null, schema: mapSchemaOf(value) })
    else fields.set(field, { name: field, kind: 'plain', defaultBytes: encode(value, `domain ${name}: the default of field ${field}`), schema: null })
  }
  return fields
}

function handlersOf(name: string, on: unknown): Map<string, HandlerInfo> {
  if (typeof on !== 'object' || on === null) throw new VedError('EINVAL', `domain ${name}: on must be an object of handlers`)
  const handlers = new Map<string, HandlerInfo>()
  for (const [type, entry] of Object.entries(on)) {
    checkName(type, `domain ${name}: an intent type`)
    if (typeof entry === 'function') {
      handlers.set(type, { handle: entry, schema: null })
    } else if (typeof entry === 'object' && entry !== null && typeof entry.handle === 'function' && isStandardSchema(entry.schema)) {
      handlers.set(type, { handle: entry.handle, schema: entry.schema })
    } else {
      throw new VedError('EINVAL', `domain ${name}: on.${type} must be a function or { schema, handle }`)
    }
  }
  return handlers
}

function effectsOf(name: string, effects: unknown): Map<string, EffectImpl> {
  if (typeof effects !== 'object' || effects === null) throw new VedError('EINVAL', `domain ${name}: effects must be an object of functions`)
  const result = new Map<string, EffectImpl>()
  for (const [effect, impl] of Object.entries(effects)) {
    checkName(effect, `domain ${name}: an effect name`)
    if (effect.includes('.')) throw new VedError('EINVAL', `domain ${name}: effect ${effect}: a name must not contain '.' (it would clash with '<effect>.done')`)
    if (typeof impl !== 'function') throw new VedError('EINVAL', `domain ${name}: effects.${effect} must be a function`)
    result.set(effect, impl as EffectImpl)
  }
  return result
}
