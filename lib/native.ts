// The typed surface of the native addon: flat functions over an opaque store handle.
// Everything here is mechanism; validation, encoding and promises live in store.ts.
//
// Shared buffers (registered once per store with `setBuffers`):
// - keyBuf: JS writes the key (and, for scans, the end key at KEY_END_OFFSET) here before a
//   call; native reads `keyLength` bytes from offset 0.
// - valueBuf: native copies a found value (get) or a batch of pairs (scan) here. When a
//   result does not fit, native returns a negative number -n: the caller grows valueBuf to at
//   least n bytes, calls setBuffers again and repeats the call.
//
// Ops buffer of `commit`: a sequence of little-endian records, each
//   u8 kind (1 = put, 2 = del) | u8 zero | u16 tree | u32 keyLength | u32 valueLength | key | value
// (valueLength is 0 for a delete). One call per transaction.
//
// Scan output in valueBuf: `count` records of u32 keyLength | u32 valueLength | key | value.
//
// Loading the addon (prebuild, local build or VED_ADDON_PATH) is lib/addon.ts's job.

declare const storeHandleBrand: unique symbol
export type StoreHandle = { readonly [storeHandleBrand]: 'StoreHandle' }

export const KEY_END_OFFSET = 2048
export const KEY_BUF_SIZE_BYTES = 4096

export const OP_PUT = 1
export const OP_DEL = 2
export const OP_HEADER_SIZE_BYTES = 12

export const SCAN_REVERSE = 1
export const SCAN_HAS_START = 2
export const SCAN_HAS_END = 4
/** Keys only: values are neither read nor copied (each pair's value length is 0). */
export const SCAN_KEYS_ONLY = 8

export interface NativeOpenOptions {
  readOnly: boolean
  sync: boolean
  create: boolean
  segmentSizeBytes: number
  maxStoreSizeBytes: number
  checkpointIntervalCommits: number
  /** 0: no background cleaning; else clean when fileBytes > this * liveBytes + one segment. */
  maxSpaceAmplification: number
  /** Keep the JS thread awake while a commit syncs (binding.cc's CompletionWait). */
  completionWait: boolean
  /** Test builds only: the fault layer's seed; production builds reject anything but 0. */
  faultSeed: number
}

/**
 * Called on the JS thread after each flusher batch. `durableSeq` is the newest durable
 * sequence number. When `errorCode` is not 0 (an index into statusNames()), every commit with
 * a sequence in [failedFromSeq, failedToSeq] was rejected with that code.
 */
export type DurableCallback = (
  durableSeq: number,
  errorCode: number,
  failedFromSeq: number,
  failedToSeq: number,
  message: string,
  /** The cleaner has relocations or free segments waiting for a commit on the JS thread. */
  cleanerReady: boolean,
) => void

export interface NativeRecovery {
  recoveredSeq: number
  scannedCommits: number
  startedFromCheckpoint: boolean
  droppedBytes: number
  tailReason: string
  openMs: number
}

export interface NativeStats {
  seq: number
  durableSeq: number
  fileBytes: number
  liveBytes: number
  segments: number
  pageSizeBytes: number
  segmentSizeBytes: number
  pendingCommits: number
  /** Log offset (segmentIndex * segmentSizeBytes + offset in segment) where the next commit goes. */
  logEndOffset: number
  poisoned: boolean
  recovery: NativeRecovery
  cleaner: NativeCleanerStats
}

export interface NativeCleanerStats {
  /** Cleaner passes run (each walks the newest durable version). */
  passes: number
  segmentsDeleted: number
  /** File bytes of the deleted segments. */
  bytesReclaimed: number
  /** Keys whose pages or blobs were rewritten to empty a segment. */
  relocatedKeys: number
  /** Relocations found by the last pass and not yet committed. */
  backlogKeys: number
  /** Segments found free, waiting for a checkpoint or for an older snapshot to close. */
  segmentsWaiting: number
  /** The version the last pass walked, and its live bytes. */
  walkedSeq: number
  walkedLiveBytes: number
  /** Why cleaning stopped ('' while it runs): damage found by a walk, or a failed delete. */
  error: string
  /** A pass is requested or running. */
  busy: boolean
}

export interface NativeCleanStep {
  /** The commit that carried relocations or let a checkpoint move (0: none). */
  seq: number
  /** A cleaner pass is running. */
  busy: boolean
  relocationsLeft: number
  segmentsWaiting: number
  /** Free segments wait only for a checkpoint, which the flusher was asked to write. */
  waitingForCheckpoint: boolean
}

/** What a simulated power cut did (fault builds). */
export interface NativeCrashReport {
  mode: 'prefix' | 'subset'
  writesUnsynced: number
  pagesUnsynced: number
  pagesKept: number
  pagesDropped: number
  torn: boolean
  tornPath: string
  tornOffset: number
  tornSectorsMask: number
  bitsFlipped: number
  filesRemoved: number
}

/** What the native verify walk found; lib/verify.ts documents the fields for users. */
export interface NativeVerifyReport {
  seq: number
  treeCount: number
  pagesChecked: number
  blobsChecked: number
  bytesChecked: number
  pagesTotalEstimate: number
  errors: { code: string; segment: number; offset: number; message: string }[]
  errorsOmitted: number
}

export interface NativeScanResult {
  /** Pairs written into valueBuf, or a negative size when valueBuf must grow. */
  count: number
  /** True when the range has no more pairs after these. */
  done: boolean
}

export interface NativeAddon {
  init(errorClass: unknown): void
  statusNames(): string[]
  limits(): { keySizeBytesMax: number; valueSizeBytesMax: number; txnSizeBytesMax: number; treeCountMax: number; treeNameBytesMax: number }
  isFaultBuild(): boolean
  /** Fault builds only (EINVAL otherwise): fail the next n fdatasyncs with EIO; fail writes with ENOSPC while set. */
  faultSet(plan: { syncsToFail?: number; outOfSpace?: boolean; trackWrites?: boolean; flushDelayMs?: number }): void
  /**
   * Fault builds only: simulates a power cut now, deterministically from `seed` given the
   * writes so far (native/io.h fault_crash). Close the abandoned store, then faultResume().
   */
  faultCrash(seed: number): NativeCrashReport
  /** Fault builds only: ends a simulated crash; the files as they are count as durable. */
  faultResume(): void
  open(path: string, options: NativeOpenOptions, onDurable: DurableCallback): StoreHandle
  setBuffers(h: StoreHandle, keyBuf: Uint8Array, valueBuf: Uint8Array): void
  /** Tree id for a name; -1 when it does not exist and the store is read-only. */
  treeId(h: StoreHandle, name: string): number
  /** Seals a transaction and returns its sequence number; durability arrives via onDurable. */
  commit(h: StoreHandle, ops: Uint8Array, opsLength: number): number
  /** snapshot -1 reads the newest sealed version. Returns value length, -1 if absent, or -n (n >= 2) to grow valueBuf to n. */
  get(h: StoreHandle, snapshot: number, tree: number, keyLength: number): number
  /** Fills valueBuf with up to `limit` pairs; start/end keys are in keyBuf (end at KEY_END_OFFSET). */
  scan(h: StoreHandle, snapshot: number, tree: number, flags: number, startLength: number, endLength: number, limit: number): number
  /** After a scan: true when the range had no more pairs. */
  scanDone(h: StoreHandle): boolean
  snapshot(h: StoreHandle): number
  snapshotSeq(h: StoreHandle, snapshot: number): number
  snapshotClose(h: StoreHandle, snapshot: number): void
  stats(h: StoreHandle): NativeStats
  /** One step of compaction; `start` asks for a forced pass. */
  cleanStep(h: StoreHandle, start: boolean, relocationsMax: number): NativeCleanStep
  /** Read-only stores: pick up commits the writer made durable since the last call. */
  refresh(h: StoreHandle): void
  /**
   * Walks every page reachable from the newest durable version (read-only stores: the open
   * version) and reports what is damaged. onProgress runs synchronously during the walk.
   */
  verify(h: StoreHandle, onProgress: ((pagesDone: number, pagesTotalEstimate: number) => void) | null): NativeVerifyReport
  /** Blocks until the flusher drained its queue, stops it and releases files and lock. */
  close(h: StoreHandle): void
}
