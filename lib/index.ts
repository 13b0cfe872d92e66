// Ved's public API. Everything else in lib/ is internal.
export { Store, TreeView, type CompactResult, type StoreStats } from './store.js'
export { Snapshot, SnapshotTree } from './snapshot.js'
export { Transaction, TransactionTree } from './transaction.js'
export { KeyIterable, RangeIterable } from './range.js'
export { VedError, STATUS_NAMES, LIB_ERROR_CODES, RUNTIME_ERROR_CODES, type VedErrorCode, type VedErrorDetails } from './errors.js'
export type { RangeEntry } from './core.js'
export type { RangeOptions } from './range.js'
export type { Key } from './keys.js'
export type { Encoding, KeyEncoding, StoreOptions } from './options.js'
export type { Limits } from './addon.js'
export { VERIFY_ERROR_CODES, type VerifyError, type VerifyErrorCode, type VerifyOptions, type VerifyProgress, type VerifyReport } from './verify.js'
export { defineDomain, map } from './runtime/domain.js'
export type {
  Context,
  DeepReadonly,
  DomainConfig,
  DomainDefinition,
  Draft,
  DraftMap,
  EffectDone,
  EffectFailed,
  EffectImpl,
  EffectInfo,
  EmitOptions,
  IntentInfo,
  MapField,
  MapView,
  StateView,
} from './runtime/domain.js'
export { Runtime } from './runtime/runtime.js'
export type { RuntimeOptions, RuntimeStats } from './runtime/options.js'
export { DomainHandle, type SendOptions } from './runtime/handle.js'
export type { SliceRecord } from './runtime/record.js'
export { listDomains, readState, type DomainList, type ListDomainsOptions, type StoredDefinition, type StoredDomain, type StoredState } from './runtime/inspect.js'
export type { StandardSchemaV1 } from './runtime/schema.js'
export { Journal, type EffectOutcome, type JournalEntry, type JournalIntent, type JournalReason, type JournalWrite, type LineageNode, type LineageResult } from './journal/reader.js'
export type { JournalOptions as JournalRetentionOptions } from './journal/options.js'
export type { JournalStats } from './journal/writer.js'
