export { mountDevtools, databaseSource, type DevtoolsOptions, type MountedDevtools } from './devtools/mount.js'
export { shareDevtools, type ShareOptions, type SharedDevtools } from './devtools/share.js'
export { DevtoolsPanel, type Child, type PanelSource } from './devtools/panel.js'
