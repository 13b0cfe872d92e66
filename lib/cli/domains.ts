// `ved domains <dir>`: what a runtime stored, read-only, alongside the running runtime: the
// definitions registered (name, version) and the domains with their slice counts. The reading
// is lib/runtime/inspect.ts (listDomains); this module parses options and prints.
import { InvalidArgumentError } from 'commander'
import type { DomainList, ListDomainsOptions, StoredDomain } from '../runtime/inspect.js'
import { addCommand, printReport, withStore, type Cli } from './command.js'
import { EXIT_OK, formatRows, shown, type CommonOptions } from './io.js'
import { openRuntimeReadOnly } from './store.js'

/**
 * Domains listed when --limit is not given: enough to read on a terminal, and a bounded walk
 * on a store holding millions of domains. `--limit 0` lists all of them.
 */
export const DOMAINS_LIMIT_DEFAULT = 1000

interface DomainsOptions extends CommonOptions {
  domain?: string
  limit: number
  after?: string
  afterKey?: string
}

/** What `ved domains --json` prints: the store's path and inspect's DomainList, unchanged. */
export interface DomainsReport extends DomainList {
  path: string
}

const HELP = `
Lists what a runtime stored: each definition registered (its name and the newest version
that opened the store), and each domain (name and key) with its slice count and the version
its state is in (below the definition's, it migrates on its next slice). A domain appears
once its first slice committed. Domains come in key order, by name then key.

A list cut by --limit continues with --after <name> --after-key <key>, the last domain it
showed (the text output prints the options to pass; with --json, take the last domain).
--after <name> alone starts past every domain of that name.
`

export function registerDomains(cli: Cli): void {
  addCommand(cli, {
    name: 'domains',
    description: 'list the domains a runtime stored, with slice counts and versions (read-only: works while a runtime runs)',
    arguments: [['<dir>', 'the store directory']],
    json: 'print one JSON object (path, seq, definitions, domains, truncated)',
    options: (command) => {
      command.option('--domain <name>', 'only this domain name (its definition and its keys)')
      command.option('--limit <n>', 'list at most n domains; 0 lists all', parseLimit, DOMAINS_LIMIT_DEFAULT)
      command.option('--after <name>', 'list only domains after this one: with --after-key, after that domain; alone, after every domain of that name')
      command.option('--after-key <key>', 'with --after: the key of the domain to continue after')
      command.hook('preAction', (action) => {
        const given = action.opts<DomainsOptions>()
        if (given.afterKey !== undefined && given.after === undefined) action.error("error: option '--after-key <key>' needs --after <name>")
      })
    },
    help: HELP,
    async run(io, [dir]: [string], options: DomainsOptions) {
      const limit = options.limit === 0 ? Infinity : options.limit
      // Imported here, not at the top: the runtime loads the native addon, and `ved --help` or
      // a usage error must work where none loads (see store.ts).
      const { listDomains } = await import('../runtime/inspect.js')
      const listOptions: ListDomainsOptions = { limit }
      if (options.domain !== undefined) listOptions.name = options.domain
      if (options.after !== undefined) listOptions.after = options.afterKey === undefined ? { name: options.after } : { name: options.after, key: options.afterKey }
      const report: DomainsReport = await withStore(dir, (store) => ({ path: store.path, ...listDomains(store, listOptions) }), openRuntimeReadOnly)
      printReport(io, options, report, formatDomains)
      return EXIT_OK
    },
  })
}

function parseLimit(text: string): number {
  const limit = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(limit)) throw new InvalidArgumentError('expected a whole number (0 lists all).')
  return limit
}

/** The human-readable report: store, seq and definitions, then one table row per domain. */
export function formatDomains(report: DomainsReport): string {
  const registered = new Map(report.definitions.map((definition) => [definition.name, definition.version]))
  const count = report.truncated ? `the first ${report.domains.length} listed; more not shown (--limit)` : `${report.domains.length}`
  const summary: Array<[string, string]> = [
    ['store', report.path],
    ['seq', `${report.seq}`],
    [
      'definitions',
      report.definitions.length === 0
        ? 'none (no runtime has registered a definition here)'
        : report.definitions.map((definition) => `${shown(definition.name)} (version ${definition.version})`).join(', '),
    ],
    ['domains', report.domains.length === 0 && !report.truncated ? '0 (a domain appears once its first slice committed)' : count],
  ]
  // A cut list says how to go on: the options that start past its last domain.
  const last = report.domains.at(-1)
  if (report.truncated && last !== undefined) summary.push(['next', `--after ${shellWord(last.name)} --after-key ${shellWord(last.key)}`])
  let text = formatRows(summary)
  if (report.domains.length === 0) return text
  const rows = report.domains.map((domain) => [shown(domain.name), shown(domain.key), `${domain.slices}`, versionText(domain, registered.get(domain.name))])
  const header = ['NAME', 'KEY', 'SLICES', 'VERSION']
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)))
  // Slice counts right-aligned, so that their digits line up; the version is last and not padded.
  const line = (cells: string[]): string =>
    `  ${cells[0]!.padEnd(widths[0]!)}  ${cells[1]!.padEnd(widths[1]!)}  ${cells[2]!.padStart(widths[2]!)}  ${cells[3]}\n`
  text += `\n${line(header)}`
  for (const row of rows) text += line(row)
  return text
}

/** `text` as one shell word: as it is when nothing in it is special to a shell, else single-quoted. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`
}

function versionText(domain: StoredDomain, registered: number | undefined): string {
  if (registered === undefined || registered <= domain.version) return `${domain.version}`
  return `${domain.version} (migrates to ${registered} on its next slice)`
}
