// Read-only inspection of what a runtime stored: the definitions registered, the domains with
// their slice counts, and one domain's current state. Used by `ved domains`, `ved state` and
// `ved journal`, and usable from code on any store opened with encoding 'binary'
// (`runtime.store`, or `Store.open(dir, { readOnly: true, encoding: 'binary' })` alongside a
// running runtime).
//
// Invariants:
// - Nothing here writes, and nothing needs the domain's definition: everything is read from
//   the key layout of keys.ts. So a state read does not know the defaults: a field never
//   written (still at its default) is absent, and a map() field shows only as the entries it
//   holds (or as {} once its meta counts it).
// - Each call reads one pinned version (a snapshot), so what it returns is one commit's view
//   even while a runtime commits; `seq` names that commit.
// - A stored value that does not decode is EENCODE naming its key, and a registry entry or
//   meta without its numbers is EFORMAT: never a plain Error, never a guess.
import { VedError } from '../errors.js'
import type { Snapshot, SnapshotTree } from '../snapshot.js'
import type { Store } from '../store.js'
import { decode } from './codec.js'
import { domainId, fieldKey, indexKey, metaKey, readMetaBytes, registryKey, RUNTIME_TREE } from './keys.js'

/** A definition the runtime has seen: the `d<name>` registry entry. */
export interface StoredDefinition {
  name: string
  /** The newest definition version that opened the store. */
  version: number
}

/** One domain (a name and key) that has committed at least one slice: its meta (lib/runtime/keys.ts). */
export interface StoredDomain {
  name: string
  key: string
  /** Slices applied so far. */
  slices: number
  /**
   * Definition version the state is in. Below the registered version, the domain migrates on
   * its next slice.
   */
  version: number
  /** Entry count of each map() field the domain has touched. */
  mapEntries: Record<string, number>
}

export interface DomainList {
  /** The commit the list was read at. */
  seq: number
  definitions: StoredDefinition[]
  /** In key order: by name, then by key (UTF-8 bytes). */
  domains: StoredDomain[]
  /** True when `limit` cut the list short: more domains match. */
  truncated: boolean
}

export interface ListDomainsOptions {
  /** Only definitions and domains of this name. */
  name?: string
  /** Domains listed at most (definitions are never cut). Default: all. */
  limit?: number
  /**
   * Only domains after this one in listing order: after the domain `name`, `key` (the last one
   * a cut list returned, to continue it), or with no `key` after every domain of `name`. It
   * need not exist. Default: from the first.
   */
  after?: { name: string; key?: string }
}

export interface StoredState {
  /** The commit the state was read at. */
  seq: number
  name: string
  key: string
  slices: number
  version: number
  /**
   * Field name to value: plain fields that were ever written, and map() fields as an object
   * of their entries. Fields still at their default are absent (the defaults live in the
   * definition, not in the store).
   */
  state: Record<string, unknown>
}

/**
 * The registered definitions and the stored domains, optionally of one name and at most
 * `limit` of them. A domain appears once its first slice committed (a domain that only has
 * messages waiting in its inbox has no state yet). EINVAL when `store` is not opened with
 * encoding 'binary' and string keys.
 */
export function listDomains(store: Store<Buffer>, options: ListDomainsOptions = {}): DomainList {
  const name = options.name
  if (name !== undefined) checkComponent(name, 'a domain name')
  const limit = options.limit ?? Infinity
  if (!(limit >= 0) || (limit !== Infinity && !Number.isInteger(limit))) {
    throw new VedError('EINVAL', `limit must be a non-negative integer, got ${String(limit)}`)
  }
  const after = options.after
  if (after !== undefined) {
    if (typeof after !== 'object' || after === null) throw new VedError('EINVAL', `after must be an object { name, key? }, got ${String(after)}`)
    checkComponent(after.name, 'after.name')
    if (after.key !== undefined) checkComponent(after.key, 'after.key', true)
  }
  return withRuntimeTree(store, (tree, snapshot) => {
    const definitions: StoredDefinition[] = []
    if (name === undefined) {
      for (const { key, value } of tree.getRange({ start: 'd', end: 'e' })) definitions.push(definitionOf(key as string, value))
    } else {
      const value = tree.get(registryKey(name))
      if (value !== undefined) definitions.push(definitionOf(registryKey(name), value))
    }
    const domains: StoredDomain[] = []
    let truncated = false
    // The index of domains: `m<name>\0` .. `m<name>\x01` holds exactly the domains of that
    // name (names hold no NUL).
    const index = name === undefined ? { start: 'm', end: 'n' } : { start: indexKey(domainId(name, '')), end: indexKey(`${name}\x01`) }
    if (after !== undefined) {
      // Strictly past `after`: its index key then NUL sorts right after it (keys hold no NUL),
      // and `m<name>\x01` after every key of the name. Compared as the engine orders keys.
      const past = after.key === undefined ? indexKey(`${after.name}\x01`) : `${indexKey(domainId(after.name, after.key))}\0`
      if (Buffer.compare(Buffer.from(past), Buffer.from(index.start)) > 0) index.start = past
    }
    for (const { key } of tree.getRange(index)) {
      if (domains.length >= limit) {
        truncated = true
        break
      }
      const engineKey = key as string
      const separator = engineKey.indexOf('\0')
      if (separator < 0) throw new VedError('EFORMAT', `malformed runtime index key ${JSON.stringify(engineKey)}: not written by this version of ved`)
      const id = engineKey.slice(1)
      const bytes = readMetaBytes((k) => tree.get(k), id)
      if (bytes === undefined) throw new VedError('EFORMAT', `runtime index key ${JSON.stringify(engineKey)} names a domain with no meta`)
      domains.push(domainOf(engineKey.slice(1, separator), engineKey.slice(separator + 1), metaKey(id), bytes))
    }
    return { seq: snapshot.seq, definitions, domains, truncated }
  })
}

/**
 * The current state of domain `key` of `name` as stored, or undefined when that domain has
 * committed no slice. Plain fields come from `s<name>\0<key>\0<field>`, map() entries from
 * `s<name>\0<key>\0<field>\0<entry>`; see StoredState for what is absent. EINVAL for a bad
 * name or key, or a store not opened with encoding 'binary'.
 */
export function readState(store: Store<Buffer>, name: string, key: string): StoredState | undefined {
  checkComponent(name, 'a domain name')
  checkComponent(key, 'a domain key', true)
  return withRuntimeTree(store, (tree, snapshot) => {
    const id = domainId(name, key)
    const metaBytes = readMetaBytes((k) => tree.get(k), id)
    if (metaBytes === undefined) return undefined
    const meta = domainOf(name, key, metaKey(id), metaBytes)
    // Null prototype: a field or entry named "__proto__" is data, not the object's prototype.
    const state = Object.create(null) as Record<string, unknown>
    // "s<name>\0<key>\0": every field and entry of this domain, and nothing of another
    // (keys hold no NUL, so "s<name>\0<key>\x01" bounds it). Fields come in key order.
    const prefix = fieldKey(id, '')
    for (const { key: stored, value } of tree.getRange({ start: prefix, end: `s${id}\x01` })) {
      const engineKey = stored as string
      const rest = engineKey.slice(prefix.length)
      const separator = rest.indexOf('\0')
      const decoded = decodeAt(engineKey, value)
      if (separator < 0) {
        state[rest] = decoded
        continue
      }
      // Field names hold no NUL, so the first one ends the field; the entry key is the rest.
      const mapField = rest.slice(0, separator)
      let entries = state[mapField]
      if (!isEntryObject(entries)) {
        entries = Object.create(null) as Record<string, unknown>
        state[mapField] = entries
      }
      ;(entries as Record<string, unknown>)[rest.slice(separator + 1)] = decoded
    }
    // A map the meta counts exists even when it holds no entry now: shown as {}, not left out.
    for (const mapField of Object.keys(meta.mapEntries)) if (!(mapField in state)) state[mapField] = Object.create(null)
    return { seq: snapshot.seq, name, key, slices: meta.slices, version: meta.version, state }
  })
}

/**
 * The meta of domain `key` of `name` (slice count, version, map sizes) without its state, or
 * undefined when that domain has committed no slice. For `ved journal`, which needs the
 * newest slice number and must not read a state that may hold millions of map entries.
 */
export function readDomain(store: Store<Buffer>, name: string, key: string): StoredDomain | undefined {
  checkComponent(name, 'a domain name')
  checkComponent(key, 'a domain key', true)
  return withRuntimeTree(store, (tree) => {
    const id = domainId(name, key)
    const bytes = readMetaBytes((k) => tree.get(k), id)
    return bytes === undefined ? undefined : domainOf(name, key, metaKey(id), bytes)
  })
}

/**
 * The ENODOMAIN error for a domain readState found nothing of, saying which part is unknown:
 * no definition of that name (listing the names there are), or no committed slice of that key.
 */
export function missingDomainError(store: Store<Buffer>, name: string, key: string): VedError {
  // limit 0: the definitions only; the domains of a big store are not walked for an error message.
  const { definitions } = listDomains(store, { limit: 0 })
  if (definitions.some((definition) => definition.name === name)) {
    return new VedError('ENODOMAIN', `domain ${JSON.stringify(name)} has no key ${JSON.stringify(key)}: no slice of it has committed`)
  }
  const known = definitions.length === 0 ? 'none: no runtime has written to this store' : definitions.map((definition) => definition.name).join(', ')
  return new VedError('ENODOMAIN', `the store holds no domain named ${JSON.stringify(name)} (domains defined: ${known})`)
}

/** Runs `read` on the runtime tree of one pinned version of `store`, then releases the pin. */
function withRuntimeTree<T>(store: Store<Buffer>, read: (tree: SnapshotTree<Buffer>, snapshot: Snapshot<Buffer>) => T): T {
  if (store.encoding !== 'binary' || store.keyEncoding !== 'string') {
    throw new VedError(
      'EINVAL',
      `inspecting runtime state needs a store opened with encoding 'binary' and string keys (as Runtime.open opens it: runtime.store), ` +
        `got encoding '${store.encoding}', keyEncoding '${store.keyEncoding}'`,
    )
  }
  const snapshot = store.snapshot()
  try {
    return read(snapshot.tree<Buffer>(RUNTIME_TREE), snapshot)
  } finally {
    snapshot.close()
  }
}

function definitionOf(engineKey: string, bytes: Buffer): StoredDefinition {
  return { name: engineKey.slice(1), version: field(decodeAt(engineKey, bytes), 'v', engineKey) }
}

function domainOf(name: string, key: string, engineKey: string, bytes: Buffer): StoredDomain {
  const meta = decodeAt(engineKey, bytes)
  const sizes = (meta as { z?: unknown }).z
  const mapEntries: Record<string, number> = {}
  if (typeof sizes === 'object' && sizes !== null) {
    for (const [mapField, count] of Object.entries(sizes)) if (typeof count === 'number') mapEntries[mapField] = count
  }
  return { name, key, slices: field(meta, 'n', engineKey), version: field(meta, 'v', engineKey), mapEntries }
}

function decodeAt(engineKey: string, bytes: Buffer): unknown {
  try {
    return decode(bytes)
  } catch (error) {
    throw new VedError('EENCODE', `the stored value of runtime key ${JSON.stringify(engineKey)} cannot be decoded: ${(error as Error).message}`)
  }
}

/**
 * A numeric member of a registry entry or meta. Anything else was not written by the runtime
 * of this version: EFORMAT, as for a store of an unknown format, not a guess.
 */
function field(value: unknown, name: 'v' | 'n', engineKey: string): number {
  const number = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined
  if (typeof number !== 'number') {
    throw new VedError('EFORMAT', `runtime key ${JSON.stringify(engineKey)} holds no number "${name}": not written by this version of ved`)
  }
  return number
}

function isEntryObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === null
}

function checkComponent(value: unknown, what: string, emptyAllowed = false): void {
  if (typeof value !== 'string') throw new VedError('EINVAL', `${what} must be a string, got ${typeof value}`)
  if (!emptyAllowed && value.length === 0) throw new VedError('EINVAL', `${what} must not be empty`)
  if (value.includes('\0')) throw new VedError('EINVAL', `${what} must not contain NUL`)
}
