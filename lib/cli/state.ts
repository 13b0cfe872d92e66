// `ved state <dir> <domain> <key>`: one domain's current state as JSON, read-only, alongside
// the running runtime, without the domain's definition. The reading is
// lib/runtime/inspect.ts (readState); this module prints, and says so when the domain is
// not there (ENODOMAIN, exit 1).
import { addCommand, withStore, type Cli } from './command.js'
import { EXIT_OK } from './io.js'
import { openRuntimeReadOnly } from './store.js'

const HELP = `
Prints the state as stored, without the domain's definition: one JSON object, field name to
value, pretty-printed (--json: on one line). A map() field is an object of its entries.
Fields never written (still at their default) are not in the store and so not printed: the
defaults live in the definition. Values JSON cannot hold are converted: bigint to a decimal
string, Map to an object, Set to an array, bytes to {"type": "Buffer", "data": [...]},
NaN and Infinity to null.
`

export function registerState(cli: Cli): void {
  addCommand(cli, {
    name: 'state',
    description: "print a domain's current state as JSON (read-only: works while a runtime runs)",
    arguments: [
      ['<dir>', 'the store directory'],
      ['<domain>', 'the domain name (as in defineDomain)'],
      ['<key>', 'the domain key (as in runtime.domain(definition, key))'],
    ],
    json: 'print the state as compact JSON on one line',
    help: HELP,
    async run(io, [dir, domain, key]: [string, string, string], options) {
      // Imported here, not at the top: the runtime loads the native addon, and `ved --help` or
      // a usage error must work where none loads (see store.ts).
      const { missingDomainError, readState } = await import('../runtime/inspect.js')
      const state = await withStore(
        dir,
        (store) => {
          const stored = readState(store, domain, key)
          if (stored === undefined) throw missingDomainError(store, domain, key)
          return stored.state
        },
        openRuntimeReadOnly,
      )
      const json = toJsonValue(state)
      io.stdout.write(`${options.json ? JSON.stringify(json) : JSON.stringify(json, null, 2)}\n`)
      return EXIT_OK
    },
  })
}

/**
 * A decoded state value as something JSON.stringify prints faithfully. msgpack holds more
 * than JSON does; without this, a bigint would throw, and a Map or a typed array print as {}
 * or as an object of indexes. Dates stay (JSON.stringify prints them as ISO strings).
 */
export function toJsonValue(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (typeof value !== 'object' || value === null || value instanceof Date) return value
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return { type: 'Buffer', data: [...value] }
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number | bigint>, toJsonValue)
  if (Array.isArray(value)) return value.map(toJsonValue)
  if (value instanceof Set) return [...value].map(toJsonValue)
  if (value instanceof Error) return { name: value.name, message: value.message }
  if (value instanceof RegExp) return String(value)
  // Null prototype: a key named "__proto__" stays a key.
  const object = Object.create(null) as Record<string, unknown>
  const entries = value instanceof Map ? [...value].map(([k, v]) => [String(k), v] as const) : Object.entries(value)
  for (const [k, v] of entries) object[k] = toJsonValue(v)
  return object
}
