// Transactions: the operations of one commit, encoded into one buffer for one native call.
//
// Ops buffer layout (lib/native.ts), little-endian, records back to back:
//
//   offset 0   u8  kind (OP_PUT = 1, OP_DEL = 2)
//          1   u8  zero
//          2   u16 tree id
//          4   u32 keyLength
//          8   u32 valueLength (0 for a delete)
//         12   key bytes, then value bytes
//
// Invariants:
// - OpsWriter.length only moves past a record once the whole record is written: an op that
//   throws (bad key, unencodable value, a limit) leaves the buffer as it was before the op.
// - Limits are checked here, before the native call: a key over keySizeBytesMax is EKEYSIZE,
//   a value over valueSizeBytesMax EVALUESIZE, ops over txnSizeBytesMax ETXNSIZE.
// - A Transaction is usable only while its callback runs; afterwards every method throws
//   ECLOSED, so an op that escaped the callback (a stored reference, an await) cannot land in
//   a later commit.
// - One OpsWriter per writable store, reused by every commit: commits are synchronous and do
//   not nest, and the native commit copies what it needs before it returns.
import { limits } from './addon.js'
import { VedError } from './errors.js'
import { writeKey, type Key } from './keys.js'
import { OP_DEL, OP_HEADER_SIZE_BYTES, OP_PUT } from './native.js'
import type { ValueCodec } from './values.js'

/** Enough for a few hundred small ops without growing. */
const OPS_BUF_SIZE_BYTES_INITIAL = 64 * 1024
/** A buffer grown past this (a big value) is dropped after its commit instead of being kept. */
const OPS_BUF_SIZE_BYTES_KEEP_MAX = 4 * 1024 * 1024

export class OpsWriter {
  /** The encoded ops; valid bytes are [0, length). */
  buf: Buffer = Buffer.allocUnsafeSlow(OPS_BUF_SIZE_BYTES_INITIAL)
  /** Bytes of complete records in buf. */
  length = 0
  /** Number of complete records in buf. */
  count = 0
  readonly #codec: ValueCodec
  readonly #keysMustDecode: boolean

  constructor(codec: ValueCodec, keysMustDecode: boolean) {
    this.#codec = codec
    this.#keysMustDecode = keysMustDecode
  }

  reset(): void {
    if (this.buf.length > OPS_BUF_SIZE_BYTES_KEEP_MAX) this.buf = Buffer.allocUnsafeSlow(OPS_BUF_SIZE_BYTES_INITIAL)
    this.length = 0
    this.count = 0
  }

  put(tree: number, key: Key, value: unknown): void {
    // Encode first: a value that cannot be encoded must not leave a half record behind.
    const encoded = this.#codec.encode(value)
    const keyLength = this.#writeKeyAt(this.length, key)
    const valueOffset = this.length + OP_HEADER_SIZE_BYTES + keyLength
    const valueLength = typeof encoded === 'string' ? this.#writeString(valueOffset, encoded) : this.#writeBytes(valueOffset, encoded)
    this.#finishRecord(OP_PUT, tree, keyLength, valueLength)
  }

  /** A put of value bytes as they are, past the codec (a store with encoding 'binary' only: Store's commitBytes). */
  putBytes(tree: number, key: Key, bytes: Uint8Array): void {
    const keyLength = this.#writeKeyAt(this.length, key)
    const valueLength = this.#writeBytes(this.length + OP_HEADER_SIZE_BYTES + keyLength, bytes)
    this.#finishRecord(OP_PUT, tree, keyLength, valueLength)
  }

  del(tree: number, key: Key): void {
    const keyLength = this.#writeKeyAt(this.length, key)
    this.#checkTxnSize(OP_HEADER_SIZE_BYTES + keyLength)
    this.#finishRecord(OP_DEL, tree, keyLength, 0)
  }

  #writeKeyAt(recordOffset: number, key: Key): number {
    this.#ensureCapacity(recordOffset + OP_HEADER_SIZE_BYTES + limits.keySizeBytesMax)
    return writeKey(this.buf, recordOffset + OP_HEADER_SIZE_BYTES, key, this.#keysMustDecode)
  }

  #writeBytes(valueOffset: number, bytes: Uint8Array): number {
    this.#checkValueSize(bytes.length)
    this.#checkTxnSize(valueOffset - this.length + bytes.length)
    this.#ensureCapacity(valueOffset + bytes.length)
    this.buf.set(bytes, valueOffset)
    return bytes.length
  }

  #writeString(valueOffset: number, text: string): number {
    // UTF-8 needs at least one byte per UTF-16 unit and at most three.
    if (text.length > limits.valueSizeBytesMax) this.#checkValueSize(text.length)
    // Short strings that fit skip the byte count: write, then check the real size.
    const sizeBytesMax = text.length * 3
    if (valueOffset + sizeBytesMax > this.buf.length || sizeBytesMax > limits.valueSizeBytesMax) {
      const valueSizeBytes = Buffer.byteLength(text, 'utf8')
      this.#checkValueSize(valueSizeBytes)
      this.#checkTxnSize(valueOffset - this.length + valueSizeBytes)
      this.#ensureCapacity(valueOffset + valueSizeBytes)
    }
    const valueLength = this.buf.write(text, valueOffset, 'utf8')
    this.#checkTxnSize(valueOffset - this.length + valueLength)
    return valueLength
  }

  #finishRecord(kind: number, tree: number, keyLength: number, valueLength: number): void {
    const offset = this.length
    const buf = this.buf
    buf[offset] = kind
    buf[offset + 1] = 0
    buf.writeUInt16LE(tree, offset + 2)
    buf.writeUInt32LE(keyLength, offset + 4)
    buf.writeUInt32LE(valueLength, offset + 8)
    this.length = offset + OP_HEADER_SIZE_BYTES + keyLength + valueLength
    this.count++
  }

  #checkValueSize(valueSizeBytes: number): void {
    if (valueSizeBytes > limits.valueSizeBytesMax) {
      throw new VedError('EVALUESIZE', `value is ${valueSizeBytes} bytes encoded, the maximum is ${limits.valueSizeBytesMax}`)
    }
  }

  #checkTxnSize(recordSizeBytes: number): void {
    const txnSizeBytes = this.length + recordSizeBytes
    if (txnSizeBytes > limits.txnSizeBytesMax) {
      throw new VedError('ETXNSIZE', `transaction is ${txnSizeBytes} bytes encoded, the maximum is ${limits.txnSizeBytesMax}`)
    }
  }

  /** Grows buf to hold `sizeBytes` bytes, keeping every byte written so far (even past length). */
  #ensureCapacity(sizeBytes: number): void {
    if (sizeBytes <= this.buf.length) return
    const grown = Buffer.allocUnsafeSlow(Math.max(sizeBytes, this.buf.length * 2))
    this.buf.copy(grown, 0, 0, this.buf.length)
    this.buf = grown
  }
}

/** What a Transaction needs from its store; implemented in store.ts. */
export interface TransactionContext {
  readonly writer: OpsWriter
  readonly defaultTree: number
  /** The id of a named tree, created if needed. */
  treeIdForWrite(name: string): number
}

/** Set by Transaction's static block: ends a transaction from store.ts without a public method. */
let endTransactionImpl: ((txn: Transaction<any>) => void) | null = null

/** Ends `txn`: every later call on it, or on its trees, throws ECLOSED. */
export function endTransaction(txn: Transaction<any>): void {
  endTransactionImpl?.(txn)
}

/**
 * The argument of `store.transaction(txn => ...)`. Its operations commit atomically when the
 * callback returns; reads inside the callback do not see them yet.
 */
export class Transaction<V = any> {
  #context: TransactionContext | null

  static {
    endTransactionImpl = (txn) => {
      txn.#context = null
    }
  }

  /** Created by Store.transaction only. */
  constructor(context: TransactionContext) {
    this.#context = context
  }

  /** Sets `key` to `value` in the default tree. */
  put(key: Key, value: V): void {
    const context = this.#open()
    context.writer.put(context.defaultTree, key, value)
  }

  /** Removes `key` from the default tree (no error when absent). */
  del(key: Key): void {
    const context = this.#open()
    context.writer.del(context.defaultTree, key)
  }

  /** The named tree `name`, written in this same atomic commit. */
  tree<T = V>(name: string): TransactionTree<T> {
    const tree = this.#open().treeIdForWrite(name)
    return new TransactionTree<T>(() => this.#open(), tree)
  }

  #open(): TransactionContext {
    if (this.#context === null) throw new VedError('ECLOSED', 'transaction is over: use it only inside its callback')
    return this.#context
  }
}

/** A named tree inside a transaction: `txn.tree(name)`. */
export class TransactionTree<V = any> {
  readonly #open: () => TransactionContext
  readonly #tree: number

  /** Created by Transaction.tree only. */
  constructor(open: () => TransactionContext, tree: number) {
    this.#open = open
    this.#tree = tree
  }

  /** Sets `key` to `value` in this tree. */
  put(key: Key, value: V): void {
    this.#open().writer.put(this.#tree, key, value)
  }

  /** Removes `key` from this tree (no error when absent). */
  del(key: Key): void {
    this.#open().writer.del(this.#tree, key)
  }
}
