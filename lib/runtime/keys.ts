// Engine key layout of the runtime. Everything lives in one named tree (RUNTIME_TREE); the
// first character says what a key holds, so each kind is one contiguous range and a resume
// scan reads only its own kind.
//
//   d<name>                              registry: { v } the newest definition version seen
//   g                                    global: { seq } the inbox sequence counter
//   m<name>\0<key>                       index of domains: empty, written with the domain's first slice
//   s<name>\0<key>                       meta of one domain: version, slice count, map sizes, journal
//   s<name>\0<key>\0<field>              a plain state field
//   s<name>\0<key>\0<field>\0<entry>     one entry of a map() field
//   i<name>\0<key>\0<seq>                an inbox message (from another domain), seq = 12 hex
//   o<name>\0<key>\0<suffix>             an outbox entry: an effect emitted, not yet settled
//   t<name>\0<key>\0<suffix>             a durable timer
//   r<name>\0<key>\0<intent id>          a remembered reply of a send that carried an id
//   q<name>\0<key>\0<slot>               which id occupies a slot of the reply ring
//
// The meta sorts right before its domain's fields, so a slice that changes a field writes one
// leaf, not two: with the meta among the other metas (under `m`, until 2026-12-04), every slice
// of a store with many domains dirtied a second leaf and its branch path. The `m` index keeps
// listing domains a scan of one key per domain. A store written before keeps each meta under
// `m` (a non-empty value there): readMetaBytes reads it until the domain's next slice writes
// the meta under `s`, which then wins.
//
// Invariants:
// - Domain names, domain keys and field names contain no NUL, so "\0" separates components
//   and "\x01" bounds a prefix range. Map entry keys are the last component: anything goes.
// - A suffix is `<slice as 12 hex digits>.<n>`: unique per domain, ordered by slice.
import { limits } from '../addon.js'
import { VedError } from '../errors.js'

/** The engine tree that holds all runtime keys; the journal has a tree of its own (lib/journal/keys.ts). */
export const RUNTIME_TREE = 'runtime'

/** Domain name + key bytes allowed, leaving room for the kind, separators, field and entry. */
const DOMAIN_ID_BYTES_MAX = 512

export const GLOBAL_KEY = 'g'

export function registryKey(name: string): string {
  return `d${name}`
}

/** `<name>\0<key>`: the part every per-domain key shares after its kind. */
export function domainId(name: string, key: string): string {
  return `${name}\0${key}`
}

/** The domain's entry in the index of domains (empty value). */
export function indexKey(id: string): string {
  return `m${id}`
}

export function metaKey(id: string): string {
  return `s${id}`
}

/**
 * The stored meta of domain `id`, or undefined when it has committed no slice: under `s<id>`,
 * or in a store written before that layout, under its `m<id>` index key (non-empty there).
 */
export function readMetaBytes<B extends Uint8Array>(get: (engineKey: string) => B | undefined, id: string): B | undefined {
  const bytes = get(metaKey(id))
  if (bytes !== undefined) return bytes
  const legacy = get(indexKey(id))
  return legacy === undefined || legacy.length === 0 ? undefined : legacy
}

export function fieldKey(id: string, field: string): string {
  return `s${id}\0${field}`
}

export function entryPrefix(id: string, field: string): string {
  return `s${id}\0${field}\0`
}

export function inboxKey(id: string, seq: number): string {
  return `i${id}\0${seq.toString(16).padStart(12, '0')}`
}

export function outboxKey(id: string, suffix: string): string {
  return `o${id}\0${suffix}`
}

export function timerKey(id: string, suffix: string): string {
  return `t${id}\0${suffix}`
}

export function replyKey(id: string, intentId: string): string {
  return `r${id}\0${intentId}`
}

export function ringKey(id: string, slot: number): string {
  return `q${id}\0${slot}`
}

export function suffixOf(slice: number, n: number): string {
  return `${slice.toString(16).padStart(12, '0')}.${n}`
}

/** The range [start, end) of every key of `kind` for domains named `name`. */
export function kindRange(kind: 'i' | 'o' | 't', name: string): { start: string; end: string } {
  return { start: `${kind}${name}\0`, end: `${kind}${name}\x01` }
}

/** Splits a key of kindRange(kind, name) into the domain key and the rest. */
export function splitKindKey(engineKey: string, name: string): { key: string; rest: string } {
  const body = engineKey.slice(1 + name.length + 1)
  const separator = body.indexOf('\0')
  if (separator < 0) throw new Error(`ved: malformed runtime key ${JSON.stringify(engineKey)}`)
  return { key: body.slice(0, separator), rest: body.slice(separator + 1) }
}

export function checkName(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new VedError('EINVAL', `${what} must be a non-empty string`)
  if (name.includes('\0')) throw new VedError('EINVAL', `${what} must not contain NUL`)
  return name
}

export function checkDomainKey(name: string, key: unknown): string {
  if (typeof key !== 'string') throw new VedError('EINVAL', `a domain key must be a string, got ${typeof key}`)
  if (key.includes('\0')) throw new VedError('EINVAL', 'a domain key must not contain NUL')
  if (Buffer.byteLength(name) + Buffer.byteLength(key) > DOMAIN_ID_BYTES_MAX) {
    throw new VedError('EKEYSIZE', `domain name + key are over ${DOMAIN_ID_BYTES_MAX} bytes`)
  }
  return key
}

/** Throws EKEYSIZE for a key the engine would refuse, before it can reach a shared commit. */
export function checkEngineKey(engineKey: string, what: string): void {
  if (engineKey.length * 3 <= limits.keySizeBytesMax) return
  if (Buffer.byteLength(engineKey) > limits.keySizeBytesMax) throw new VedError('EKEYSIZE', `${what} makes a key over ${limits.keySizeBytesMax} bytes`)
}
