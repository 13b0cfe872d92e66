// PendingWrites: the writes of the slices run since the last commit, and the read path of
// every slice (pending first, then the store's newest sealed version).
//
//   slice runs -> its delta goes into PendingWrites -> ... more slices ...
//     -> commit(): one commit (commitBytes) with every pending write -> sealed, pending empty
//
// Invariants:
// - Between a drain's end and the next drain's first slice, nothing is pending except writes
//   a registration queued for that next drain; so outside drains a read is a store read.
// - Keys are written in the order first touched; a key written twice keeps its last value.
// - Values are encoded bytes (the store is opened with encoding 'binary'); null = delete.
// - Journal writes (lib/journal) ride in the same commit as the slices they describe.
import { commitBytes, type Store, type TreeView } from '../store.js'
import { JOURNAL_TREE } from '../journal/keys.js'
import { RUNTIME_TREE } from './keys.js'

export class PendingWrites {
  readonly #store: Store<Buffer>
  readonly #tree: TreeView<Buffer>
  readonly #journalTree: TreeView<Buffer>
  #writes = new Map<string, Buffer | null>()
  #journal = new Map<string, Buffer | null>()
  /** Bytes of pending values (keys not counted), overwritten ones included: an upper bound. */
  #valueBytes = 0

  constructor(store: Store<Buffer>) {
    this.#store = store
    this.#tree = store.tree<Buffer>(RUNTIME_TREE)
    this.#journalTree = store.tree<Buffer>(JOURNAL_TREE)
  }

  get size(): number {
    return this.#writes.size + this.#journal.size
  }

  /** The journal tree as the store has it (pending journal writes not included). */
  get journalTree(): TreeView<Buffer> {
    return this.#journalTree
  }

  /** The bytes of journal key `key` as the next commit will leave them. */
  getJournal(key: string): Buffer | undefined {
    const pending = this.#journal.get(key)
    if (pending !== undefined) return pending ?? undefined
    return this.#journalTree.get(key)
  }

  putJournal(key: string, bytes: Buffer): void {
    this.#journal.set(key, bytes)
    this.#valueBytes += bytes.length
  }

  delJournal(key: string): void {
    this.#journal.set(key, null)
  }

  /** Counts bytes a writer holds back until just before the commit (the journal's batches). */
  countBytes(bytes: number): void {
    this.#valueBytes += bytes
  }

  /** The bytes of `key` as the next commit will leave them, or undefined when absent. */
  get(key: string): Buffer | undefined {
    const pending = this.#writes.get(key)
    if (pending !== undefined) return pending ?? undefined
    return this.#tree.get(key)
  }

  /** Value bytes written since the last commit (an upper bound of the commit's size). */
  get valueBytes(): number {
    return this.#valueBytes
  }

  put(key: string, bytes: Buffer): void {
    this.#writes.set(key, bytes)
    this.#valueBytes += bytes.length
  }

  del(key: string): void {
    this.#writes.set(key, null)
  }

  /** Every [key, bytes] with `prefix`, in the store's key order (UTF-8 bytes), pending included. */
  *prefixEntries(prefix: string): Generator<[string, Buffer]> {
    const pending: string[] = []
    for (const key of this.#writes.keys()) if (key.startsWith(prefix)) pending.push(key)
    pending.sort(compareUtf8)
    let next = 0
    const end = `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)}`
    for (const { key, value } of this.#tree.getRange({ start: prefix, end })) {
      const storedKey = key as string
      while (next < pending.length && compareUtf8(pending[next]!, storedKey) < 0) yield* this.#pendingEntry(pending[next++]!)
      if (next < pending.length && pending[next] === storedKey) {
        yield* this.#pendingEntry(pending[next++]!)
        continue
      }
      yield [storedKey, value]
    }
    while (next < pending.length) yield* this.#pendingEntry(pending[next++]!)
  }

  /** Seals every pending write as one commit; resolves when it is durable. Empty: resolves at once. */
  commit(): Promise<number> | null {
    if (this.size === 0) return null
    const writes = this.#writes
    const journal = this.#journal
    this.#writes = new Map()
    this.#journal = new Map()
    this.#valueBytes = 0
    // The values are bytes already: no Transaction, no codec (store.ts, commitBytes).
    return commitBytes(this.#store, [
      [RUNTIME_TREE, writes],
      [JOURNAL_TREE, journal],
    ])
  }

  *#pendingEntry(key: string): Generator<[string, Buffer]> {
    const bytes = this.#writes.get(key)
    if (bytes !== null && bytes !== undefined) yield [key, bytes]
  }
}

export function compareUtf8(a: string, b: string): number {
  // UTF-16 order equals UTF-8 byte order except around surrogates; only then pay for buffers.
  if (!hasSurrogate(a) && !hasSurrogate(b)) return a < b ? -1 : a > b ? 1 : 0
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

function hasSurrogate(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit >= 0xd800 && unit <= 0xdfff) return true
  }
  return false
}
