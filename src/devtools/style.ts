/** The panel's styles, inside its shadow root: the page's styles cannot reach it, nor it the page's. */
export const PANEL_CSS = `
:host { all: initial; }
.panel { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: #1d2733; background: #fbfcfd; display: flex; flex-direction: column; height: 100%; }
header { display: flex; align-items: center; gap: 8px; padding: 6px 10px; background: #0f3d57; color: #fff; }
header .title { flex: 1; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
header button { background: none; border: 1px solid #fff6; color: #fff; border-radius: 3px; cursor: pointer; }
.phase { padding: 0 6px; border-radius: 8px; background: #7a8896; }
.phase[data-phase="in-sync"] { background: #1f8a4c; }
.phase[data-phase="offline"], .phase[data-phase="error"] { background: #b3402d; }
.phase[data-phase="pushing"], .phase[data-phase="pulling"], .phase[data-phase="connecting"] { background: #c98a12; }
nav { display: flex; flex-wrap: wrap; gap: 2px; padding: 4px 6px; border-bottom: 1px solid #d8dee4; }
nav button { font: inherit; border: 0; background: none; padding: 3px 6px; border-radius: 3px; cursor: pointer; color: #334; }
nav button.on { background: #dde8f0; color: #0f3d57; font-weight: bold; }
.count { margin-left: 4px; padding: 0 4px; border-radius: 6px; background: #e4e8ec; }
.body { overflow: auto; padding: 6px 10px; flex: 1; }
table { border-collapse: collapse; margin: 4px 0; }
th, td { text-align: left; padding: 2px 8px 2px 0; vertical-align: top; }
th { color: #5b6874; font-weight: normal; border-bottom: 1px solid #d8dee4; }
h3 { font-size: 12px; margin: 10px 0 2px; }
code { display: block; white-space: pre-wrap; word-break: break-all; }
code.if { color: #6a4c93; }
.mutation, .doc { border-left: 3px solid #c98a12; padding: 2px 6px; margin: 6px 0; }
.doc { border-color: #d8dee4; }
.doc.pending { border-color: #c98a12; }
.rejected { border-color: #b3402d; }
pre { margin: 2px 0; white-space: pre-wrap; word-break: break-all; }
.muted { color: #5b6874; }
.tag { margin-left: 6px; color: #c98a12; }
.link { font: inherit; border: 0; background: none; color: #0f5d87; cursor: pointer; padding: 0; text-decoration: underline; }
.link.on { font-weight: bold; }
.error { color: #b3402d; }
`
