/**
 * The layer rules of src/ (docs/architecture.md): each room imports only the
 * rooms below it, and nothing imports in a circle. `npm test` checks them.
 */
const room = name => `^src/${name}/`

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes two modules one; split the shared part out, or invert the dependency. (Type-only imports are erased at build time and may point back.)',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'core-imports-nothing',
      severity: 'error',
      comment: 'core is pure and shared by every room: it imports nothing outside itself.',
      from: { path: room('core') },
      to: { path: '^src/', pathNot: room('core') },
    },
    {
      name: 'protocol-imports-core-only',
      severity: 'error',
      comment: 'The wire protocol is shared by client, server and file sync: it may import core, nothing else.',
      from: { path: room('protocol') },
      to: { path: '^src/', pathNot: ['^src/(core|protocol)/'] },
    },
    {
      name: 'replica-imports-core-only',
      severity: 'error',
      comment: 'The replica knows no sync flavour: sync, files and tabs plug into its write scope from above.',
      from: { path: room('replica') },
      to: { path: '^src/', pathNot: ['^src/(core|replica)/'] },
    },
    {
      name: 'sync-and-files-never-import-the-orm-or-database',
      severity: 'error',
      comment: 'Sync flavours work on the replica; the database wires them, not the other way round.',
      from: { path: '^src/(sync|files)/' },
      to: { path: '^src/(orm|database)/' },
    },
    {
      name: 'server-imports-core-and-protocol-only',
      severity: 'error',
      comment: 'The server shares core and the protocol with the client, and nothing else; tidepool/server (src/server.ts) builds its schemas from models.',
      from: { path: room('server') },
      to: { path: '^src/', pathNot: ['^src/(core|protocol|server)/'] },
    },
    {
      name: 'react-binds-the-database-only',
      severity: 'error',
      comment: 'tidepool/react keeps components on what the public Database offers; it reaches into no sync flavour or storage.',
      from: { path: room('react') },
      to: { path: '^src/', pathNot: ['^src/(core|orm|replica|database|react)/'] },
    },
    {
      name: 'devtools-reads-the-database-only',
      severity: 'error',
      comment: 'tidepool/devtools shows what the public Database reports (db.inspect); it reaches into no sync flavour or storage.',
      from: { path: room('devtools') },
      to: { path: '^src/', pathNot: ['^src/(core|replica|database|devtools)/'] },
    },
    {
      name: 'devtools-panel-loads-as-served',
      severity: 'error',
      comment: 'tidepool serve --devtools serves the panel modules straight from dist/devtools and core/describe: they import nothing else (types aside).',
      from: { path: '^src/devtools/(panel|page|style)\\.ts$' },
      to: { path: '^src/', pathNot: ['^src/devtools/', '^src/core/describe\\.ts$'], dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.build.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
}
