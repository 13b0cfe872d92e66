// handle.state: a read-only view of a domain's newest sealed state (which may not be
// durable yet, like every store read). Each property read goes to the store, so the view
// never goes stale and holds no copy; a plain field reads as a fresh decoded value, so
// mutating it changes nothing stored.
import { VedError } from '../errors.js'
import { decode } from './codec.js'
import type { DomainDefinition, FieldInfo } from './domain.js'
import type { Reads } from './draft.js'
import { entryPrefix, fieldKey, readMetaBytes } from './keys.js'

/** The meta of the domain if it is loaded in memory (the newest), else null: read the store. */
export type LoadedMeta = () => { z: Record<string, number> } | null

export function stateView(definition: DomainDefinition, id: string, reads: Reads, loadedMeta: LoadedMeta): Record<string, unknown> {
  const readOnly = (): never => {
    throw new VedError('EINVAL', `the state of ${definition.name} is read-only outside its handlers: send an intent to change it`)
  }
  return new Proxy(Object.create(null) as Record<string, unknown>, {
    get: (_target, field) => {
      if (typeof field !== 'string') return undefined
      const info = definition.fields.get(field)
      if (info === undefined) return undefined
      return info.kind === 'map' ? new MapViewImpl(info, id, reads, loadedMeta) : readPlain(info, id, reads)
    },
    set: readOnly,
    deleteProperty: readOnly,
    defineProperty: readOnly,
    has: (_target, field) => typeof field === 'string' && definition.fields.has(field),
    ownKeys: () => [...definition.fields.keys()],
    getOwnPropertyDescriptor: (_target, field) => {
      if (typeof field !== 'string') return undefined
      const info = definition.fields.get(field)
      if (info === undefined) return undefined
      const value = info.kind === 'map' ? new MapViewImpl(info, id, reads, loadedMeta) : readPlain(info, id, reads)
      return { value, writable: false, enumerable: true, configurable: true }
    },
  })
}

function readPlain(info: FieldInfo, id: string, reads: Reads): unknown {
  const bytes = reads.get(fieldKey(id, info.name)) ?? info.defaultBytes
  return bytes === null ? undefined : decode(bytes)
}

class MapViewImpl {
  readonly #info: FieldInfo
  readonly #id: string
  readonly #prefix: string
  readonly #reads: Reads
  readonly #loadedMeta: LoadedMeta

  constructor(info: FieldInfo, id: string, reads: Reads, loadedMeta: LoadedMeta) {
    this.#info = info
    this.#id = id
    this.#prefix = entryPrefix(id, info.name)
    this.#reads = reads
    this.#loadedMeta = loadedMeta
  }

  get size(): number {
    const loaded = this.#loadedMeta()
    if (loaded !== null) return loaded.z[this.#info.name] ?? 0
    const bytes = readMetaBytes((engineKey) => this.#reads.get(engineKey), this.#id)
    if (bytes === undefined) return 0
    return (decode(bytes) as { z: Record<string, number> }).z[this.#info.name] ?? 0
  }

  get(key: string): unknown {
    const bytes = this.#reads.get(this.#prefix + key)
    return bytes === undefined ? undefined : decode(bytes)
  }

  has(key: string): boolean {
    return this.#reads.get(this.#prefix + key) !== undefined
  }

  *entries(): IterableIterator<[string, unknown]> {
    for (const [key, bytes] of this.#reads.prefixEntries(this.#prefix)) yield [key.slice(this.#prefix.length), decode(bytes)]
  }

  *keys(): IterableIterator<string> {
    for (const [key] of this.#reads.prefixEntries(this.#prefix)) yield key.slice(this.#prefix.length)
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
}
