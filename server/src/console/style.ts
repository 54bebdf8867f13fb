/** The console's only stylesheet, served at /console/console.css (no external asset). */
export const CONSOLE_CSS = `
:root {
  --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --bg: #f6f7f9; --card: #fff;
  --accent: #1f5fbf; --ok: #127a3e; --warn: #a15c00; --bad: #b42318; --info: #3b5bdb;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  font-size: 15px; line-height: 1.45; color: var(--fg); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
header.top { background: #14213d; color: #fff; }
header.top .inner { display: flex; align-items: center; gap: 28px; max-width: 1180px;
  margin: 0 auto; padding: 0 24px; height: 56px; }
header.top .brand { font-weight: 700; letter-spacing: .02em; color: #fff; font-size: 17px; }
header.top nav { display: flex; gap: 4px; flex: 1; }
header.top nav a { color: #cfd8ea; padding: 8px 12px; border-radius: 6px; }
header.top nav a.current, header.top nav a:hover { background: #24365e; color: #fff;
  text-decoration: none; }
header.top form { margin: 0; }
header.top .who { color: #cfd8ea; font-size: 13px; margin-right: 10px; }
main { max-width: 1180px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 4px 0 6px; }
h2 { font-size: 18px; margin: 28px 0 10px; }
p.lead { color: var(--muted); margin: 0 0 20px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 20px; margin-bottom: 18px; box-shadow: 0 1px 2px rgba(16,24,40,.04); }
table { width: 100%; border-collapse: collapse; background: var(--card); }
th, td { text-align: left; padding: 9px 12px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted);
  background: #fafbfc; }
tr:last-child td { border-bottom: none; }
.table-wrap { border: 1px solid var(--line); border-radius: 10px; overflow: hidden;
  overflow-x: auto; margin-bottom: 18px; }
code, .hash { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: 13px; white-space: nowrap; }
time { white-space: nowrap; }
.hash { background: #f1f3f7; padding: 1px 5px; border-radius: 4px; cursor: help; }
.muted { color: var(--muted); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; font-size: 12px; font-weight: 600; padding: 1px 8px;
  border-radius: 999px; border: 1px solid currentColor; white-space: nowrap; }
.badge.ok { color: var(--ok); background: #ecfdf3; }
.badge.warn { color: var(--warn); background: #fffaeb; }
.badge.bad { color: var(--bad); background: #fef3f2; }
.badge.info { color: var(--info); background: #eef2ff; }
.tags { display: flex; flex-wrap: wrap; gap: 4px; }
.tag { font-size: 12px; background: #eef1f6; border-radius: 4px; padding: 1px 6px; }
.banner { border-radius: 10px; padding: 12px 16px; margin-bottom: 18px; border: 1px solid; }
.banner ul { margin: 6px 0 0; padding-left: 18px; }
.banner.critical { background: #fef3f2; border-color: #fda29b; color: #7a271a; }
.banner.warning { background: #fffaeb; border-color: #fedf89; color: #7a2e0e; }
.timeline { list-style: none; margin: 0; padding: 0 0 0 22px; border-left: 2px solid var(--line); }
.timeline > li { position: relative; margin-bottom: 16px; }
.timeline > li::before { content: ""; position: absolute; left: -30px; top: 22px; width: 12px;
  height: 12px; border-radius: 50%; background: var(--accent); border: 2px solid #fff;
  box-shadow: 0 0 0 1px var(--line); }
.timeline > li.revoked::before { background: var(--bad); }
.timeline > li.failed::before, .timeline > li.pending::before { background: var(--warn); }
.timeline .head { display: flex; align-items: baseline; gap: 12px; flex-wrap: wrap; }
.timeline .head h3 { margin: 0; font-size: 16px; }
ul.targets { list-style: none; padding: 0; margin: 10px 0 8px; }
ul.targets li { margin: 2px 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 8px 18px; margin: 0;
  align-items: baseline; }
dl.facts dt { color: var(--muted); font-size: 13px; }
dl.facts dd { margin: 0; }
form.inline { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
input[type=text], input[type=password] { font: inherit; padding: 8px 10px; border: 1px solid #cfd4dc;
  border-radius: 8px; min-width: 340px; background: #fff; }
button { font: inherit; padding: 8px 14px; border-radius: 8px; border: 1px solid var(--accent);
  background: var(--accent); color: #fff; cursor: pointer; }
a.button { display: inline-block; padding: 8px 14px; border-radius: 8px; background: var(--accent);
  color: #fff; white-space: nowrap; }
a.button:hover { text-decoration: none; background: #174c9c; }
.audit-pack { display: flex; gap: 18px; align-items: center; justify-content: space-between;
  flex-wrap: wrap; }
.audit-pack p { margin: 4px 0 0; max-width: 760px; }
table.findings .meaning { color: var(--muted); font-size: 13px; margin-top: 3px; max-width: 380px; }
table.findings td.detail { font-size: 13px; overflow-wrap: anywhere; max-width: 420px; }
button.quiet { background: transparent; border-color: #51648f; color: #cfd8ea; padding: 5px 10px; }
.login { max-width: 460px; margin: 10vh auto; }
.login input { width: 100%; min-width: 0; margin: 6px 0 14px; }
.error { color: var(--bad); background: #fef3f2; border: 1px solid #fda29b; border-radius: 8px;
  padding: 8px 12px; margin-bottom: 12px; }
.chart { display: block; width: 100%; height: auto; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; font-size: 13px; margin-top: 8px; }
.swatch { vertical-align: -1px; margin-right: 4px; }
.small { font-size: 13px; }
.nowrap { white-space: nowrap; }
.reason { font-size: 13px; color: var(--fg); margin-top: 4px; max-width: 320px;
  overflow-wrap: anywhere; }
table.waves td, table.waves th { padding: 9px 10px; }
table.waves td.gate { min-width: 190px; }
table.events td.detail { max-width: 560px; }
table.events .tag { overflow-wrap: anywhere; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 18px; }
`;
