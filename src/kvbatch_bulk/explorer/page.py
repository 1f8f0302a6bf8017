"""The explorer's HTML: structure only; no inline script, style or event handler (see `explorer.js`)."""

PAGE_HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>kvbatch explorer</title>
<link rel="icon" href="explorer.svg" type="image/svg+xml">
<link rel="stylesheet" href="explorer.css">
<script src="explorer.js" defer></script>
</head>
<body>
<header class="bar">
  <h1>kvbatch explorer</h1>
  <form id="store-form" class="inline" hidden>
    <label for="store">Store</label>
    <input id="store" name="store" list="known-stores" autocomplete="off" spellcheck="false" required>
    <datalist id="known-stores"></datalist>
    <button type="submit">Open</button>
  </form>
  <button id="sign-out" type="button" hidden>Sign out</button>
</header>

<div id="message" role="alert" aria-live="assertive" hidden></div>
<div id="status" role="status" aria-live="polite"></div>

<main aria-busy="true">
<section id="login" aria-labelledby="login-title" hidden>
  <h2 id="login-title">Sign in</h2>
  <p>Give the component's access token (the Spin variable <code>kvbatch_token</code>). It stays in this
  browser tab (<code>sessionStorage</code>) and is sent only to this component, as <code>Authorization: Bearer</code>.</p>
  <form id="login-form">
    <label for="token">Access token</label>
    <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
    <button type="submit">Sign in</button>
  </form>
</section>

<div id="workspace" hidden>
<section id="keys-panel" aria-labelledby="keys-title">
  <h2 id="keys-title">Keys</h2>
  <form id="list-form" class="controls">
    <label for="prefix">Prefix</label>
    <input id="prefix" name="prefix" autocomplete="off" spellcheck="false">
    <label for="page-size">Per page</label>
    <select id="page-size" name="page-size">
      <option>25</option><option selected>50</option><option>100</option><option>250</option><option>1000</option>
    </select>
    <button type="submit">List</button>
    <button id="count-all" type="button">Count all</button>
  </form>
  <div class="controls">
    <label for="filter">Filter this page</label>
    <input id="filter" type="search" autocomplete="off" spellcheck="false">
  </div>
  <p id="count" aria-live="polite"></p>
  <div class="controls">
    <label class="check"><input id="select-all" type="checkbox"> Select all shown</label>
    <span id="selected-count">0 selected</span>
    <button id="clear-selection" type="button">Clear selection</button>
    <button id="new-key" type="button">New key</button>
  </div>
  <ul id="key-list" class="key-list" aria-label="Keys on this page"></ul>
  <nav class="controls" aria-label="Pages">
    <button id="prev-page" type="button" disabled>Previous page</button>
    <span id="page-label"></span>
    <button id="next-page" type="button" disabled>Next page</button>
  </nav>

  <fieldset id="bulk">
    <legend>Selected keys</legend>
    <div class="controls">
      <button id="delete-selected" type="button" disabled>Delete selected</button>
      <span id="delete-confirm" hidden>
        <span id="delete-question"></span>
        <button id="delete-yes" type="button" class="danger">Delete them</button>
        <button id="delete-no" type="button">Cancel</button>
      </span>
    </div>
    <form id="copy-form" class="controls">
      <label for="copy-prefix">Copy to prefix</label>
      <input id="copy-prefix" autocomplete="off" spellcheck="false">
      <label for="copy-store">in store</label>
      <input id="copy-store" list="known-stores" autocomplete="off" spellcheck="false" placeholder="this store">
      <label class="check"><input id="copy-overwrite" type="checkbox"> Overwrite existing</label>
      <button id="copy-selected" type="submit" disabled>Copy selected</button>
    </form>
    <p class="hint">A copy's new key is the destination prefix followed by the key without the listed prefix.</p>
  </fieldset>

  <fieldset id="transfer">
    <legend>NDJSON export and import</legend>
    <div class="controls">
      <button id="export" type="button">Export keys with this prefix</button>
    </div>
    <form id="import-form" class="controls">
      <label for="import-file">NDJSON file</label>
      <input id="import-file" type="file" accept=".ndjson,.jsonl,.json,application/x-ndjson,text/plain">
      <label for="import-encoding">Values</label>
      <select id="import-encoding">
        <option value="text" selected>text, unless a line says base64</option>
        <option value="base64">base64, unless a line says text</option>
      </select>
      <button id="import" type="submit">Import into this store</button>
    </form>
    <div id="progress-box" hidden>
      <progress id="progress" max="1" value="0"></progress>
      <span id="progress-label" aria-live="polite"></span>
    </div>
  </fieldset>
</section>

<section id="value-panel" aria-labelledby="value-title">
  <h2 id="value-title">Value</h2>
  <p id="value-empty">Choose a key to see its value, or make a new key.</p>
  <div id="value-view" hidden>
    <p><span class="label">Key</span> <code id="value-key"></code></p>
    <p><span class="label">Shown as</span> <span id="value-kind"></span></p>
    <pre id="value-text" tabindex="0"></pre>
    <div id="value-binary" hidden>
      <h3>Hex</h3>
      <pre id="value-hex" tabindex="0"></pre>
      <h3>Base64</h3>
      <pre id="value-base64" tabindex="0"></pre>
    </div>
    <div class="controls">
      <button id="edit" type="button">Edit</button>
      <button id="reload-value" type="button">Reload</button>
    </div>
  </div>
  <form id="editor" hidden>
    <label for="edit-key">Key</label>
    <input id="edit-key" autocomplete="off" spellcheck="false" required>
    <label for="edit-encoding">Value as</label>
    <select id="edit-encoding">
      <option value="text">text (UTF-8)</option>
      <option value="base64">base64 (any bytes)</option>
    </select>
    <label for="edit-value">Value</label>
    <textarea id="edit-value" rows="12" spellcheck="false"></textarea>
    <label class="check"><input id="create-only" type="checkbox"> Create only: do not overwrite a key that exists</label>
    <div class="controls">
      <button id="save" type="submit">Save</button>
      <button id="cancel-edit" type="button">Cancel</button>
    </div>
  </form>
</section>
</div>

<section id="outcomes" aria-labelledby="outcomes-title" hidden>
  <h2 id="outcomes-title">Outcomes</h2>
  <p id="outcomes-summary"></p>
  <table>
    <thead><tr><th scope="col">Key</th><th scope="col">Outcome</th><th scope="col">Reason</th></tr></thead>
    <tbody id="outcomes-rows"></tbody>
  </table>
  <p id="outcomes-more" hidden></p>
</section>
</main>
</body>
</html>
"""
