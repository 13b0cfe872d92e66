// `ved lineage <dir> <intentId>`: the causal tree around one intent, drawn as a tree in the
// terminal, read-only, alongside the running runtime. The reading is lib/journal/reader.ts
// (Journal.lineage); this module draws the answer and turns an empty one into its sentence:
// an id the journal does not know fails (ENOINTENT, exit 1), an expired or disabled journal
// is an answer (exit 0).
import { VedError } from '../errors.js'
import type { LineageNode, LineageResult } from '../journal/reader.js'
import { addCommand, printReport, withStore, type Cli } from './command.js'
import { EXIT_OK, formatRows, shown, type CommonOptions } from './io.js'
import { domainLabel } from './journal.js'
import { openRuntimeReadOnly } from './store.js'

/**
 * Levels of guides (│, spaces) drawn at most before a line. A chain of timers (a domain that
 * ticks) is a tree as deep as it is long: fully indented, its 10,000th node would sit 30,000
 * columns to the right and the whole drawing would hold 150 million characters. Deeper lines
 * keep this indentation, start with "…" and end with their depth.
 */
export const DEPTH_DRAWN_MAX = 32

/** Marks the intent asked about, among its ancestors and descendants. */
const ASKED = '◀ asked'

const HELP = `
Draws the causal tree of an intent: from the oldest ancestor the journal still holds,
down through the intent asked about (marked ${ASKED}) to everything it caused: the
messages it sent (run in their domains), the timers it set and the settlements of the
effects it emitted (run in its own domain), and what those caused in turn. Each node
reads "domain/key #slice type (intent id)"; children are indented under their parent,
in the order they ran. Above the intent, only the chain of ancestors leading to it is
drawn, not their other children.

The tree is cut (truncated) when an ancestor is no longer in the journal (retention
dropped it) or past 10,000 nodes. --json prints the LineageResult: root, nodes (each
with intentId, domain, key, slice, type, at, causedBy, children) and truncated.
An id the journal does not know exits 1 (ENOINTENT); one whose entry retention dropped
is reported as such, with exit status 0.
`

export function registerLineage(cli: Cli): void {
  addCommand(cli, {
    name: 'lineage',
    description: 'draw the causal tree of an intent across domains, effects and timers (read-only: works while a runtime runs)',
    arguments: [
      ['<dir>', 'the store directory'],
      ['<intentId>', "the intent's id (the id given to send(), or one the journal shows)"],
    ],
    json: 'print the LineageResult (root, nodes, truncated, reason) as one JSON object',
    help: HELP,
    async run(io, [dir, intentId]: [string, string], options: CommonOptions) {
      // Imported here, not at the top: the journal loads the native addon, and `ved --help` or
      // a usage error must work where none loads (see store.ts).
      const { Journal, LINEAGE_NODES_MAX } = await import('../journal/reader.js')
      // enabled: false, as in `ved journal`: 'disabled' only for a domain the journal never
      // recorded, 'expired' for one whose entries retention dropped.
      const result = await withStore(dir, (store) => new Journal(store, { enabled: false }).lineage(intentId), openRuntimeReadOnly)
      if (result.reason === 'unknown') {
        throw new VedError(
          'ENOINTENT',
          `the journal holds no intent ${JSON.stringify(intentId)}: no slice ran it, or it is an id given to send() and retention dropped its entry`,
        )
      }
      printReport(io, options, result, (answer) => formatLineage(answer, intentId, LINEAGE_NODES_MAX))
      return EXIT_OK
    },
  })
}

/** The human-readable report: what was asked, the root and node count, the tree, what is cut. */
export function formatLineage(result: LineageResult, intentId: string, nodesMax: number): string {
  if (result.reason === 'disabled') {
    return `intent ${shown(intentId)}: the journal holds nothing of its domain: it ran with the journal off (Runtime.open's journal: false)\n`
  }
  // The reader answers an empty tree only with a reason; one without is read as expired.
  if (result.reason !== undefined || result.nodes.length === 0) {
    return `intent ${shown(intentId)} is no longer in the journal: retention (keepSlices, keepMs, keepBytes) dropped its entry; its domain is still in the store\n`
  }
  const first = result.nodes[0]!
  let text = formatRows([
    ['intent', shown(intentId)],
    ['root', result.root === null ? '(unknown)' : shown(result.root)],
    ['nodes', `${result.nodes.length}${result.truncated ? ' (truncated)' : ''}`],
  ])
  text += '\n'
  if (first.causedBy !== null) text += `… caused by ${shown(first.causedBy)}, which is not in this answer\n`
  for (const line of drawTree(result.nodes, intentId)) text += `${line}\n`
  if (result.truncated) {
    const why: string[] = []
    if (first.causedBy !== null) why.push('the chain above the first node is cut: its cause is no longer in the journal')
    if (result.nodes.length >= nodesMax) why.push(`one answer holds at most ${nodesMax.toLocaleString('en-US')} nodes: more of the tree is not shown`)
    if (why.length === 0) why.push('part of the tree is not in the journal any more')
    text += `\ntruncated: ${why.join('; ')}\n`
  }
  return text
}

/** One level of indentation, linked to its parent's, so that a deep tree is not copied per line. */
interface Guide {
  readonly up: Guide | null
  readonly text: string
}

interface Frame {
  readonly node: LineageNode
  readonly depth: number
  readonly last: boolean
  readonly guides: Guide | null
}

/**
 * The tree's lines, from the first node (the oldest ancestor in the answer): each node under
 * its parent with ├─ or └─ (the last child), and │ continuing a parent that has more children
 * below. Children are found by intent id in the answer's nodes. Nodes no parent names (there
 * are none in a reader's answer; a hand-made one may have them) are drawn as trees of their own
 * after it, so that nothing in the answer goes unseen.
 */
export function drawTree(nodes: readonly LineageNode[], asked: string): string[] {
  // Children are named by intent id. An id a sender gave several domains can name several
  // nodes: each name takes the next node of that id not drawn yet, in the answer's order.
  const byId = new Map<string, LineageNode[]>()
  for (const node of nodes) {
    const same = byId.get(node.intentId)
    if (same === undefined) byId.set(node.intentId, [node])
    else same.push(node)
  }
  const drawn = new Set<LineageNode>()
  const take = (id: string): LineageNode | undefined => {
    const node = byId.get(id)?.find((candidate) => !drawn.has(candidate))
    if (node !== undefined) drawn.add(node)
    return node
  }
  let askedMarked = false
  const lines: string[] = []
  for (const root of nodes) {
    if (drawn.has(root)) continue
    drawn.add(root)
    // Depth first with an explicit stack: a chain 10,000 deep must not exhaust the call stack.
    const stack: Frame[] = [{ node: root, depth: 0, last: true, guides: null }]
    for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
      const { node, depth, last, guides } = frame
      let line = `${prefix(depth, last, guides)}${domainLabel(node.domain, node.key)} #${node.slice} ${shown(node.type)} (${shown(node.intentId)})`
      if (!askedMarked && node.intentId === asked) {
        line += `  ${ASKED}`
        askedMarked = true
      }
      if (depth - 1 > DEPTH_DRAWN_MAX) line += `  [depth ${depth}]`
      lines.push(line)
      const children = node.children.map(take).filter((child): child is LineageNode => child !== undefined)
      // A child's guides: its parent's, and below the parent a │ while the parent has siblings
      // still to come (the root has no connector, so its children add no guide).
      const below = depth === 0 ? guides : { up: guides, text: last ? '   ' : '│  ' }
      for (let i = children.length - 1; i >= 0; i--) stack.push({ node: children[i]!, depth: depth + 1, last: i === children.length - 1, guides: below })
    }
  }
  return lines
}

/** The guides and connector before a node at `depth`: at most DEPTH_DRAWN_MAX levels of guides. */
function prefix(depth: number, last: boolean, guides: Guide | null): string {
  if (depth === 0) return ''
  const parts: string[] = []
  for (let guide = guides; guide !== null && parts.length < DEPTH_DRAWN_MAX; guide = guide.up) parts.push(guide.text)
  const elided = depth - 1 > DEPTH_DRAWN_MAX ? '… ' : ''
  return `${elided}${parts.reverse().join('')}${last ? '└─ ' : '├─ '}`
}
