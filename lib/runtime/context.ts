// SliceContext: the `ctx` of one handler run. Collects what the slice asks for (effects,
// messages, timers); the slice commits them with its state delta or not at all.
//
// Invariants:
// - Deterministic: ids come from the domain, the slice number and a counter; random() from a
//   generator seeded by the same; now is fixed by the caller. Running the same slice twice
//   (checkDeterminism, or again after a crash) gives the same ids and numbers.
// - Bad requests throw VedError inside the handler (EEFFECT, EINTENT, ESCHEMA, EENCODE,
//   EINVAL), so the slice fails as a whole and nothing it asked for happens.
import { VedError } from '../errors.js'
import { mulberry32 as prng } from '../random.js'
import { encode } from './codec.js'
import type { Context, DomainDefinition, EmitOptions, IntentInfo } from './domain.js'
import type { Reads } from './draft.js'
import { checkDomainKey, checkName, suffixOf, timerKey } from './keys.js'
import { validateWith } from './schema.js'

export interface EmittedEffect {
  readonly suffix: string
  readonly id: string
  readonly effect: string
  readonly payload: Buffer | null
  readonly attempt: number
}

export interface SentMessage {
  readonly id: string
  readonly domain: string
  readonly key: string
  readonly type: string
  readonly payload: Buffer | null
}

export interface SetTimer {
  readonly suffix: string
  readonly id: string
  readonly type: string
  readonly payload: Buffer | null
  readonly due: number
}

export class SliceContext implements Context<any> {
  readonly domain: string
  readonly key: string
  readonly now: number
  readonly intent: IntentInfo
  readonly slice: number
  // Shared empty lists until the first item: most slices emit, send, set and cancel nothing,
  // and four arrays per slice were a measurable part of its garbage. Read-only outside.
  effects: readonly EmittedEffect[] = NONE
  messages: readonly SentMessage[] = NONE
  timers: readonly SetTimer[] = NONE
  /** Suffixes of this domain's stored timers that the slice cancels. */
  cancelled: readonly string[] = NONE
  readonly #definition: DomainDefinition
  readonly #domainId: string
  /** `<name>/<key>/`: the prefix of every id this domain makes. */
  readonly #idPrefix: string
  readonly #reads: Reads
  readonly #definitionOf: (name: string) => DomainDefinition | undefined
  #counter = 0
  #random: (() => number) | null = null

  constructor(
    definition: DomainDefinition,
    key: string,
    domainId: string,
    slice: number,
    now: number,
    intent: IntentInfo,
    reads: Reads,
    definitionOf: (name: string) => DomainDefinition | undefined,
  ) {
    this.#definition = definition
    this.domain = definition.name
    this.key = key
    this.#domainId = domainId
    this.#idPrefix = `${definition.name}/${key}/`
    this.slice = slice
    this.now = now
    this.intent = intent
    this.#reads = reads
    this.#definitionOf = definitionOf
  }

  random(): number {
    // Seeded on first use: most slices never draw, and hashing the seed is not free.
    this.#random ??= seededRandom(`${this.#domainId}\0${this.slice}`)
    return this.#random()
  }

  id(): string {
    return this.#idPrefix + this.#nextSuffix()
  }

  emit(effect: string, payload: unknown, options?: EmitOptions): string {
    if (!this.#definition.effects.has(effect)) throw new VedError('EEFFECT', `domain ${this.#definition.name} declares no effect ${String(effect)}`)
    const bytes = payload === undefined ? null : encode(payload, `the payload of effect ${effect}`)
    let suffix: string
    let attempt = 1
    if (options?.retryOf !== undefined) {
      const { id, attempt: previous } = options.retryOf
      suffix = this.#ownSuffix(id, 'retryOf.id')
      if (!Number.isSafeInteger(previous) || previous < 1) throw new VedError('EINVAL', 'retryOf.attempt must be a positive integer')
      attempt = previous + 1
    } else {
      suffix = this.#nextSuffix()
    }
    const id = this.#idPrefix + suffix
    this.effects = append(this.effects, { suffix, id, effect, payload: bytes, attempt })
    return id
  }

  send(domain: string, key: string, type: string, payload?: unknown): string {
    checkName(domain, 'ctx.send: the domain name')
    checkDomainKey(domain, key)
    checkName(type, 'ctx.send: the intent type')
    const target = this.#definitionOf(domain)
    // A target not registered yet is checked when it runs; its message waits in the inbox.
    if (target !== undefined) payload = checkIntent(target, type, payload)
    const bytes = payload === undefined ? null : encode(payload, `the payload of ${domain}.${type}`)
    const id = this.id()
    this.messages = append(this.messages, { id, domain, key, type, payload: bytes })
    return id
  }

  after(ms: number, type: string, payload?: unknown): string {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new VedError('EINVAL', `ctx.after: ms must be a finite number >= 0, got ${String(ms)}`)
    payload = checkIntent(this.#definition, type, payload)
    const bytes = payload === undefined ? null : encode(payload, `the payload of timer ${type}`)
    const suffix = this.#nextSuffix()
    const id = this.#idPrefix + suffix
    this.timers = append(this.timers, { suffix, id, type, payload: bytes, due: this.now + ms })
    return id
  }

  cancel(timerId: string): boolean {
    if (typeof timerId !== 'string' || !timerId.startsWith(this.#idPrefix)) return false
    const suffix = timerId.slice(this.#idPrefix.length)
    const index = this.timers.findIndex((timer) => timer.suffix === suffix)
    if (index >= 0) {
      ;(this.timers as SetTimer[]).splice(index, 1)
      return true
    }
    if (this.cancelled.includes(suffix)) return false
    if (this.#reads.get(timerKey(this.#domainId, suffix)) === undefined) return false
    this.cancelled = append(this.cancelled, suffix)
    return true
  }

  #nextSuffix(): string {
    return suffixOf(this.slice, this.#counter++)
  }

  #ownSuffix(id: unknown, what: string): string {
    if (typeof id !== 'string' || !id.startsWith(this.#idPrefix)) throw new VedError('EINVAL', `${what} is not an id of this domain: ${String(id)}`)
    return id.slice(this.#idPrefix.length)
  }
}

const NONE: readonly never[] = Object.freeze([])

/** `list` with `item` at its end: the shared empty list is replaced by an array of the slice's own. */
function append<T>(list: readonly T[], item: T): readonly T[] {
  const own = list === NONE ? [] : (list as T[])
  own.push(item)
  return own
}

/** Checks that `definition` handles `type` and validates `payload`; returns the payload to use. */
export function checkIntent(definition: DomainDefinition, type: string, payload: unknown): unknown {
  const handler = definition.handlers.get(type)
  if (handler === undefined) throw new VedError('EINTENT', `domain ${definition.name} has no handler for intent ${JSON.stringify(type)}`)
  if (handler.schema === null) return payload
  return validateWith(handler.schema, payload, `domain ${definition.name}: the payload of ${type}`)
}

/** mulberry32 seeded with the FNV-1a hash of `seed`: small, fast, and the same on every run. */
function seededRandom(seed: string): () => number {
  let hash = 0x811c9dc5
  for (let i = 0; i < seed.length; i++) hash = Math.imul(hash ^ seed.charCodeAt(i), 0x01000193)
  return prng(hash)
}
