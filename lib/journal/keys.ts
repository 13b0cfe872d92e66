// Engine key layout of the causal journal. Everything lives in its own named tree
// (JOURNAL_TREE), committed in the same engine transaction as the slices it describes; the
// first character says what a key holds.
//
//   e\0<seq>                        the time region: one domain's entries of one drain, keyed by
//                                   a journal-wide sequence (12 hex), chained to that domain's
//                                   previous batch (entry.ts); a drain's batches are adjacent keys
//   e<id>\0<slice>                  the domain region: a batch of entries of slices slice, slice + 1, ...
//                                   (12 hex) that compaction moved out of the time region, and
//                                   entries kept for an unsettled lineage
//   l<intent id>\0<name>\0<key>\0<slice>   where a send that carried its own id ran
//   x<effect id>                    an emitted effect: emitting slice, intent, outcome
//   u<root>\0<effect id>            an effect not settled yet: its lineage (root) is kept
//   k<id>\0<slice>                  an entry past the window kept for an unsettled lineage
//
// `<id>` is the runtime's domain id `<name>\0<key>` (lib/runtime/keys.ts).
//
// Only a send that carried its own id gets an index key (`l`): every other intent id is made
// by the runtime and names a domain (a send: `<name>/<key>/~<open>:<n>`; a message, timer
// or settlement: the slice that made it, `<name>/<key>/<slice>.<n>[#<attempt>]`), so a
// reader finds it by scanning the headers of that domain's entries (or, for a message,
// of the domain the making slice sent it to). An index key per slice would double the
// journal's engine writes on the slice path, for the sake of queries.
//
// Why two regions: a copy-on-write tree writes a whole leaf for every scattered key, so keys
// ordered by domain cost a leaf (and its branch path) per slice when many domains take turns.
// Keys ordered by time put a drain's batches into one or two leaves at the region's end
// (docs/design.md, "Causal journal").
//
// Invariants:
// - Domain names are non-empty, so `e\0` starts no domain-region key: the time region is the
//   range [e\0, e\x01) and sorts before every domain's range.
// - For one domain, every entry in the domain region is older than every entry in the time
//   region: compaction moves time batches out oldest first.
// - Domain names and keys contain no NUL, so an `l` key splits from the right; intent ids
//   may be anything, so a reader checks the id it gets back against the id it asked for.
// - Every key here is bounded: ids made by the runtime are `<name>/<key>/<suffix>` (at most
//   the 512-byte domain id plus a suffix), and ids given to send() are checked against
//   JOURNAL_SEND_ID_BYTES_MAX while the journal is on.
export const JOURNAL_TREE = 'journal'

/** A send's own id, at most (so that the journal's keys stay under the engine's key limit). */
export const JOURNAL_SEND_ID_BYTES_MAX = 256

function hex(slice: number): string {
  return slice.toString(16).padStart(12, '0')
}

/** A batch of the time region. */
export function timeKey(seq: number): string {
  return `e\0${hex(seq)}`
}

/** The time region: every key of it lies in [start, end). */
export const TIME_RANGE: { readonly start: string; readonly end: string } = Object.freeze({ start: 'e\0', end: 'e\x01' })

export function seqOfTimeKey(key: string): number {
  return Number.parseInt(key.slice(2), 16)
}

/**
 * The key length an entry is accounted with wherever it lies (a domain-region key), so that
 * moving a batch between the regions leaves the domain's byte count exact.
 */
export function accountedKeyLength(id: string): number {
  return id.length + 14
}

export function entryKey(id: string, slice: number): string {
  return `e${id}\0${hex(slice)}`
}

/** The range [start, end) of every entry of domain `id`. */
export function entryRange(id: string): { start: string; end: string } {
  return { start: `e${id}\0`, end: `e${id}\x01` }
}

export function sliceOfEntryKey(key: string): number {
  return Number.parseInt(key.slice(key.length - 12), 16)
}

export function locatorKey(intentId: string, id: string, slice: number): string {
  return `l${intentId}\0${id}\0${hex(slice)}`
}

export function locatorPrefix(intentId: string): string {
  return `l${intentId}\0`
}

export function effectKey(effectId: string): string {
  return `x${effectId}`
}

export function unsettledKey(root: string, effectId: string): string {
  return `u${root}\0${effectId}`
}

export function unsettledPrefix(root: string): string {
  return `u${root}\0`
}

export function keptKey(id: string, slice: number): string {
  return `k${id}\0${hex(slice)}`
}

export function keptRange(id: string): { start: string; end: string } {
  return { start: `k${id}\0`, end: `k${id}\x01` }
}

/** The end of a prefix range: the prefix with its last character (a NUL) bumped. */
export function prefixEnd(prefix: string): string {
  return `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)}`
}
