#!/usr/bin/env node
import { Command } from 'commander'
import { createRequire } from 'node:module'
import { compactCommand } from './compact.js'
import { filesCommand } from './files.js'
import { importCommand } from './import.js'
import { inspectCommand } from './inspect.js'
import { serveCommand } from './serve.js'

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string }

// subcommands are made with .command(), so each inherits the settings made here before them
const program = new Command('tidepool')
  .description('The Tidepool sync server, and tools for its databases and serverless sync folders.')
  .version(version, '-v, --version', 'print the version')
  .helpOption('-h, --help', 'show help')
  .helpCommand('help [command]', 'show help for a command')
  .showSuggestionAfterError()
  .showHelpAfterError('(add --help for usage)')
  .configureOutput({ outputError: (text, write) => write(`tidepool: ${text.replace(/^error: /, '')}`) })
  // a usage error exits 2, the convention for "called wrong"; help and the version exit 0
  .exitOverride(e => process.exit(e.exitCode === 0 ? 0 : 2))
serveCommand(program)
compactCommand(program)
inspectCommand(program)
importCommand(program)
filesCommand(program)

try {
  await program.parseAsync()
} catch (e) {
  console.error(`tidepool: ${(e as Error).message}`)
  process.exit(1)
}
