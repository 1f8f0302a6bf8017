"""The explorer's style sheet (`explorer.css`: the page's CSP allows no inline style) and its icon (`explorer.svg`)."""

ICON_SVG = r"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="6" fill="#0d1117"/>
<rect x="6" y="7" width="20" height="4" rx="1" fill="#58a6ff"/>
<rect x="6" y="14" width="20" height="4" rx="1" fill="#3fb950"/>
<rect x="6" y="21" width="20" height="4" rx="1" fill="#f0f6fc"/>
</svg>
"""

STYLE_CSS = r"""
:root {
  --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #ffffff; --panel: #f6f8fa;
  --accent: #0b5fff; --ok: #116329; --bad: #a40e26; --warn: #7d4e00; --focus: #ff8c00;
  color-scheme: light;
}
* { box-sizing: border-box; }
body {
  margin: 0;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg);
  background: var(--bg);
}
code, pre, .key, input, textarea, select { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
h1 { font-size: 1.15rem; margin: 0 1.5rem 0 0; }
h2 { font-size: 1.05rem; margin: 0 0 .6rem; }
h3 { font-size: .95rem; margin: .8rem 0 .3rem; }
.bar {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: .6rem;
  padding: .6rem 1rem;
  background: #0d1117;
  color: #f0f6fc;
}
.bar label { color: #c9d1d9; }
.bar #sign-out { margin-left: auto; }
main { padding: .8rem 1rem 2rem; }
#workspace {
  display: grid;
  grid-template-columns: minmax(22rem, 1fr) minmax(22rem, 1.2fr);
  gap: 1rem;
  align-items: start;
}
@media (max-width: 900px) { #workspace { grid-template-columns: 1fr; } }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem; }
#login { max-width: 40rem; }
#outcomes { margin-top: 1rem; }
.controls, .inline { display: flex; flex-wrap: wrap; align-items: center; gap: .4rem .5rem; margin: .4rem 0; }
label { font-weight: 600; font-size: .9rem; }
label.check { font-weight: normal; }
input, select, textarea {
  font-size: .9rem;
  padding: .3rem .4rem;
  border: 1px solid #8c959f;
  border-radius: 4px;
  background: #fff;
  color: var(--fg);
}
textarea { width: 100%; display: block; margin: .3rem 0; }
#editor > label { display: block; margin-top: .5rem; }
#editor > input { width: 100%; }
button {
  font: inherit;
  font-size: .9rem;
  padding: .3rem .75rem;
  border: 1px solid #8c959f;
  border-radius: 4px;
  background: #fff;
  color: var(--fg);
  cursor: pointer;
}
button:hover:not(:disabled) { background: #eef2f6; }
button:disabled { color: #8c959f; cursor: not-allowed; }
button[type=submit] { border-color: var(--accent); }
button.danger { border-color: var(--bad); color: var(--bad); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 1px; }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: .8rem 0 0; padding: .4rem .8rem .6rem; }
legend { font-weight: 600; padding: 0 .3rem; }
.hint { color: var(--muted); font-size: .85rem; margin: .2rem 0; }
#count, #selected-count, #page-label { color: var(--muted); font-size: .9rem; }
.key-list {
  list-style: none;
  margin: .4rem 0;
  padding: 0;
  max-height: 26rem;
  overflow: auto;
  border: 1px solid var(--line);
  border-radius: 4px;
  background: #fff;
}
.key-list li { display: flex; align-items: center; gap: .4rem; padding: .1rem .4rem; border-bottom: 1px solid #eaeef2; }
.key-list li:last-child { border-bottom: 0; }
.key-list li.current { background: #ddf4ff; }
.key-list button.key {
  flex: 1;
  text-align: left;
  border: 0;
  background: transparent;
  padding: .2rem .2rem;
  overflow-wrap: anywhere;
  white-space: pre-wrap;
}
.key-list .empty { color: var(--muted); padding: .5rem; }
pre {
  margin: 0;
  padding: .5rem;
  background: #fff;
  border: 1px solid var(--line);
  border-radius: 4px;
  max-height: 24rem;
  overflow: auto;
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}
.label { color: var(--muted); font-size: .85rem; }
#value-key { overflow-wrap: anywhere; white-space: pre-wrap; }
#message {
  margin: .6rem 1rem 0;
  padding: .6rem .8rem;
  border-radius: 6px;
  border: 1px solid var(--bad);
  background: #ffebe9;
  color: var(--bad);
  font-weight: 600;
}
#message.info { border-color: var(--ok); background: #dafbe1; color: var(--ok); }
#status { margin: .3rem 1rem 0; color: var(--muted); min-height: 1.2em; font-size: .9rem; }
progress { width: 16rem; height: 1rem; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; border: 1px solid var(--line); padding: .25rem .5rem; vertical-align: top; }
td.key { overflow-wrap: anywhere; white-space: pre-wrap; }
tr.succeeded td.outcome { color: var(--ok); }
tr.failed td.outcome { color: var(--bad); font-weight: 600; }
tr.unknown td.outcome, tr.not-attempted td.outcome { color: var(--warn); font-weight: 600; }
[hidden] { display: none !important; }
"""
