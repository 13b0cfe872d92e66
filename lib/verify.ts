// The report of store.verify(): a walk of every page reachable from a store's newest durable
// version, checking each checksum and tree invariant (docs/durability.md lists the checks).
// Exported for tools (the CLI's `ved verify <dir>`) that show progress and print findings.
import type { NativeVerifyReport } from './native.js'

/** What kind of damage a finding is. */
export type VerifyErrorCode =
  | 'record' // the commit record of the version
  | 'checksum' // a page's checksum does not match its bytes
  | 'header' // a page's kind, own offset or seq is wrong
  | 'structure' // slots or cells out of bounds, an empty leaf, a keyed first branch cell
  | 'key-order' // keys out of order, or outside the bounds given by the parent's separators
  | 'reference' // a reference outside the log, misaligned, or to a page reached twice
  | 'depth' // leaves at different depths, or a tree deeper than the maximum
  | 'blob' // a large value's header, length or checksum
  | 'entry-count' // a tree's leaf entries differ from the count in its commit record
  | 'live-bytes' // the reachable bytes differ from the live bytes in the commit record

export const VERIFY_ERROR_CODES: readonly VerifyErrorCode[] = Object.freeze([
  'record',
  'checksum',
  'header',
  'structure',
  'key-order',
  'reference',
  'depth',
  'blob',
  'entry-count',
  'live-bytes',
])

/** One finding: where it is (segment index and byte offset in that segment) and what. */
export interface VerifyError {
  code: VerifyErrorCode
  segment: number
  offset: number
  message: string
}

export interface VerifyReport {
  /** True when nothing was found. */
  ok: boolean
  /** Sequence number of the version verified. */
  seq: number
  /** Named trees in that version (the default tree included). */
  trees: number
  /** Tree pages walked (branches and leaves). */
  pagesChecked: number
  /** Large values (blobs) checked. */
  blobsChecked: number
  /** Bytes checked: the commit record, tree pages and blobs. */
  bytesChecked: number
  /** Findings, at most 1000; `errorsOmitted` counts the rest. */
  errors: VerifyError[]
  errorsOmitted: number
}

/** Progress of a verify walk: 4 KiB pages done (blobs count by size) and the estimated total. */
export interface VerifyProgress {
  pagesDone: number
  pagesTotalEstimate: number
}

export interface VerifyOptions {
  /** Called synchronously during the walk, every 1024 pages and once at the end. */
  onProgress?: ((progress: VerifyProgress) => void) | null
}

export function verifyReportFrom(native: NativeVerifyReport): VerifyReport {
  const errors = native.errors.map((e) => {
    if (!(VERIFY_ERROR_CODES as readonly string[]).includes(e.code)) throw new Error(`ved: native verify gave an unknown code ${e.code}`)
    return { code: e.code as VerifyErrorCode, segment: e.segment, offset: e.offset, message: e.message }
  })
  return {
    ok: errors.length === 0 && native.errorsOmitted === 0,
    seq: native.seq,
    trees: native.treeCount,
    pagesChecked: native.pagesChecked,
    blobsChecked: native.blobsChecked,
    bytesChecked: native.bytesChecked,
    errors,
    errorsOmitted: native.errorsOmitted,
  }
}
