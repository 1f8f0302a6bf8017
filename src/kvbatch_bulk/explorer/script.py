"""The explorer's script (served as `explorer.js`).

Every key, value and message reaches the page through `textContent` or form values, never as
markup, and every handler is attached here with `addEventListener`: the page has no inline
script for a key to inject into, and its Content-Security-Policy would refuse one.
"""

SCRIPT_JS = r"""'use strict';
(function () {
  const TOKEN_KEY = 'kvbatch-explorer-token';
  const STORE_KEY = 'kvbatch-explorer-store';
  const STORES_KEY = 'kvbatch-explorer-stores';
  const API = new URL('.', window.location.href); // the route's root, where the page is served
  const HEX_SHOWN_BYTES = 64 * 1024;
  const OUTCOME_ROWS = 1000;
  const $ = (id) => document.getElementById(id);

  const state = {
    token: null,
    store: 'default',
    stores: ['default'],
    limits: { max_batch_keys: 1000, max_body_bytes: 8 * 1024 * 1024, max_page_keys: 1000 },
    prefix: '',
    pageSize: 50,
    cursors: [null],
    page: 0,
    next: null,
    listed: false,
    keys: [],
    selected: new Set(),
    current: null,
    shown: null, // {key, bytes, text}
  };

  class ApiError extends Error {
    constructor(status, message, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  // -- messages ------------------------------------------------------------------------------

  function showMessage(text, kind) {
    const box = $('message');
    box.textContent = text;
    box.className = kind === 'info' ? 'info' : '';
    box.hidden = false;
  }

  function clearMessage() {
    $('message').hidden = true;
    $('message').textContent = '';
  }

  function setStatus(text) {
    $('status').textContent = text;
  }

  function plural(n, one, many) {
    return n.toLocaleString('en') + ' ' + (n === 1 ? one : many);
  }

  function describe(status, body) {
    const reason = body && typeof body === 'object' && typeof body.error === 'string' ? body.error : '';
    const because = reason ? ': ' + reason : '';
    switch (status) {
      case 401:
        return 'The token was refused (401' + because + '). Sign in with the component\'s access token.';
      case 403:
        return 'Access denied (403' + because + '). A store must be listed in the component\'s key_value_stores.';
      case 404:
        return 'Not found (404' + because + ').';
      case 413:
        return 'Too large (413' + because + ').';
      case 501:
        return 'Not supported by this store (501' + because + ').';
      case 503:
        return 'The store failed (503' + because + '). Try again in a moment.';
      default:
        return 'The request failed (' + status + because + ').';
    }
  }

  // -- the bulk endpoints --------------------------------------------------------------------

  function storePath(operation) {
    return 'stores/' + encodeURIComponent(state.store) + '/' + operation;
  }

  async function call(method, path, options) {
    const opts = options || {};
    const url = new URL(path, API);
    for (const [name, value] of Object.entries(opts.query || {})) {
      if (value !== null && value !== undefined && value !== '') url.searchParams.set(name, String(value));
    }
    const headers = { Authorization: 'Bearer ' + state.token };
    let body;
    if (opts.ndjson !== undefined) {
      headers['Content-Type'] = 'application/x-ndjson';
      body = opts.ndjson;
    } else if (opts.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.json);
    }
    let response;
    try {
      response = await fetch(url, { method, headers, body, cache: 'no-store', credentials: 'omit', redirect: 'error' });
    } catch (err) {
      throw new ApiError(0, 'Could not reach the component (' + err.message + ').', null);
    }
    const type = response.headers.get('content-type') || '';
    let data = null;
    if (type.startsWith('application/json')) {
      try { data = await response.json(); } catch (err) { data = null; }
    } else {
      data = await response.text();
    }
    if (response.status === 200 || response.status === 207) {
      return { status: response.status, data, headers: response.headers };
    }
    const error = new ApiError(response.status, describe(response.status, data), data);
    if (response.status === 401) signOut(error.message);
    throw error;
  }

  function report(err) {
    if (err instanceof ApiError) {
      if (err.status !== 401) showMessage(err.message);
    } else {
      showMessage('Unexpected error in the page: ' + err.message);
    }
    setStatus('');
  }

  // -- signing in ----------------------------------------------------------------------------

  function showLogin() {
    $('login').hidden = false;
    $('workspace').hidden = true;
    $('outcomes').hidden = true;
    $('store-form').hidden = true;
    $('sign-out').hidden = true;
    $('token').value = '';
    $('token').focus();
  }

  function signOut(reason) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    state.keys = [];
    state.selected.clear();
    state.current = null;
    state.shown = null;
    $('key-list').replaceChildren();
    showLogin();
    if (reason) showMessage(reason);
    else clearMessage();
  }

  async function signIn(token) {
    state.token = token;
    clearMessage();
    setStatus('Checking the token…');
    let limits;
    try {
      limits = (await call('GET', 'limits')).data;
    } catch (err) {
      report(err);
      return;
    }
    state.limits = limits;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('login').hidden = true;
    $('workspace').hidden = false;
    $('store-form').hidden = false;
    $('sign-out').hidden = false;
    $('store').value = state.store;
    setStatus('Signed in.');
    await listFromStart();
    $('prefix').focus();
  }

  function readFragment() {
    // #token=...&store=... : read once, then removed from the address bar (a fragment is never sent to a server)
    if (!window.location.hash) return;
    const params = new URLSearchParams(window.location.hash.slice(1));
    const token = params.get('token');
    const store = params.get('store');
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    if (store) chooseStore(store);
    params.delete('token');
    params.delete('store');
    const rest = params.toString();
    window.history.replaceState(null, '', window.location.pathname + window.location.search + (rest ? '#' + rest : ''));
  }

  // -- stores --------------------------------------------------------------------------------

  function chooseStore(name) {
    state.store = name;
    sessionStorage.setItem(STORE_KEY, name);
  }

  function remember(name) {
    // a store that answered: offered again in the store fields (a component cannot list its grants)
    if (!state.stores.includes(name)) state.stores.push(name);
    sessionStorage.setItem(STORES_KEY, JSON.stringify(state.stores));
    const list = $('known-stores');
    list.replaceChildren(...state.stores.map((store) => {
      const option = document.createElement('option');
      option.value = store;
      return option;
    }));
  }

  function restoreStores() {
    try {
      const stores = JSON.parse(sessionStorage.getItem(STORES_KEY) || '[]');
      if (Array.isArray(stores)) {
        for (const store of stores) if (typeof store === 'string' && !state.stores.includes(store)) state.stores.push(store);
      }
    } catch (err) { /* a damaged entry is ignored */ }
    chooseStore(sessionStorage.getItem(STORE_KEY) || 'default');
    remember(state.store);
  }

  // -- listing -------------------------------------------------------------------------------

  async function listFromStart() {
    state.prefix = $('prefix').value;
    state.pageSize = Number($('page-size').value);
    state.cursors = [null];
    state.page = 0;
    await loadPage();
  }

  async function loadPage() {
    setStatus('Listing keys…');
    let answer;
    try {
      answer = await call('GET', storePath('keys'), {
        query: { prefix: state.prefix, limit: state.pageSize, cursor: state.cursors[state.page] },
      });
    } catch (err) {
      state.keys = [];
      state.next = null;
      state.listed = false;
      renderKeys();
      report(err);
      return;
    }
    state.keys = answer.data.keys;
    state.next = answer.data.cursor;
    state.listed = true;
    remember(state.store);
    renderKeys();
    setStatus('');
  }

  function filteredKeys() {
    const filter = $('filter').value.toLowerCase();
    return filter ? state.keys.filter((key) => key.toLowerCase().includes(filter)) : state.keys.slice();
  }

  function renderKeys() {
    const shown = filteredKeys();
    const list = $('key-list');
    const rows = shown.map((key) => {
      const row = document.createElement('li');
      if (key === state.current) row.className = 'current';
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = state.selected.has(key);
      box.setAttribute('aria-label', 'Select ' + key);
      box.addEventListener('change', () => {
        if (box.checked) state.selected.add(key);
        else state.selected.delete(key);
        renderSelection();
      });
      const open = document.createElement('button');
      open.type = 'button';
      open.className = 'key';
      open.textContent = key;
      open.addEventListener('click', () => busy(() => showValue(key)));
      row.append(box, open);
      return row;
    });
    if (rows.length === 0) {
      const empty = document.createElement('li');
      empty.className = 'empty';
      if (!state.listed) empty.textContent = 'The keys could not be listed (see the message above).';
      else empty.textContent = state.keys.length ? 'No key on this page matches the filter.' : 'No keys with this prefix.';
      rows.push(empty);
    }
    list.replaceChildren(...rows);
    const filter = $('filter').value;
    const where = 'page ' + (state.page + 1) + ' of store "' + state.store + '"'
      + (state.prefix ? ', prefix "' + state.prefix + '"' : '');
    let count = plural(state.keys.length, 'key', 'keys') + ' on ' + where;
    if (filter) count = shown.length.toLocaleString('en') + ' of ' + count + ' match "' + filter + '"';
    count += state.next ? '; more on the next page.' : '; no more pages.';
    $('count').textContent = state.listed ? count : '';
    $('page-label').textContent = 'Page ' + (state.page + 1);
    $('prev-page').disabled = state.page === 0;
    $('next-page').disabled = !state.next;
    renderSelection();
  }

  function renderSelection() {
    const n = state.selected.size;
    $('selected-count').textContent = n.toLocaleString('en') + ' selected';
    $('delete-selected').disabled = n === 0;
    $('copy-selected').disabled = n === 0;
    const shown = filteredKeys();
    const all = $('select-all');
    all.checked = shown.length > 0 && shown.every((key) => state.selected.has(key));
    all.indeterminate = !all.checked && shown.some((key) => state.selected.has(key));
    if (n === 0) $('delete-confirm').hidden = true;
  }

  async function countAll() {
    clearMessage();
    const prefix = $('prefix').value;
    let cursor = null;
    let total = 0;
    try {
      do {
        setStatus('Counting… ' + plural(total, 'key', 'keys') + ' so far');
        const answer = await call('GET', storePath('keys'), { query: { prefix, limit: state.limits.max_page_keys, cursor } });
        total += answer.data.keys.length;
        cursor = answer.data.cursor;
      } while (cursor);
    } catch (err) {
      report(err);
      return;
    }
    setStatus('');
    showMessage(plural(total, 'key', 'keys') + ' in store "' + state.store + '"'
      + (prefix ? ' with prefix "' + prefix + '"' : '') + '.', 'info');
  }

  // -- one value -----------------------------------------------------------------------------

  function base64ToBytes(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function bytesToBase64(bytes) {
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(binary);
  }

  function hexDump(bytes) {
    const lines = [];
    const end = Math.min(bytes.length, HEX_SHOWN_BYTES);
    for (let offset = 0; offset < end; offset += 16) {
      const row = bytes.subarray(offset, Math.min(offset + 16, end));
      const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ');
      const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
      lines.push(offset.toString(16).padStart(8, '0') + '  ' + hex.padEnd(47, ' ') + '  |' + ascii + '|');
    }
    if (bytes.length > end) {
      lines.push('… the first ' + plural(end, 'byte', 'bytes') + ' of ' + bytes.length.toLocaleString('en') + ' shown');
    }
    return lines.join('\n');
  }

  function decodeText(bytes) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (err) {
      return null;
    }
  }

  async function showValue(key) {
    clearMessage();
    state.current = key;
    renderKeys();
    setStatus('Reading "' + key + '"…');
    let answer;
    try {
      answer = await call('POST', storePath('get-many'), { json: { keys: [key], encoding: 'base64' } });
    } catch (err) {
      report(err);
      return;
    }
    setStatus('');
    const data = answer.data;
    if (data.failed && key in data.failed) {
      showMessage('Could not read "' + key + '": ' + data.failed[key] + '.');
      return;
    }
    if (!(key in data.values)) {
      showMessage('"' + key + '" holds no value (deleted since it was listed?).');
      return;
    }
    const bytes = base64ToBytes(data.values[key]);
    state.shown = { key, bytes, text: decodeText(bytes) };
    renderValue();
  }

  function renderValue() {
    const shown = state.shown;
    $('editor').hidden = true;
    $('value-empty').hidden = true;
    $('value-view').hidden = false;
    $('value-key').textContent = shown.key;
    const size = plural(shown.bytes.length, 'byte', 'bytes');
    if (shown.text === null) {
      $('value-kind').textContent = 'binary (not UTF-8), ' + size + ': hex and base64';
      $('value-text').hidden = true;
      $('value-binary').hidden = false;
      $('value-hex').textContent = hexDump(shown.bytes);
      $('value-base64').textContent = bytesToBase64(shown.bytes);
      return;
    }
    let formatted = null;
    try {
      const parsed = JSON.parse(shown.text);
      if (parsed !== null && typeof parsed === 'object') formatted = JSON.stringify(parsed, null, 2);
    } catch (err) { /* not JSON: shown as text */ }
    $('value-kind').textContent = formatted === null ? 'text (UTF-8), ' + size : 'JSON, formatted (' + size + ')';
    $('value-binary').hidden = true;
    $('value-text').hidden = false;
    $('value-text').textContent = formatted === null ? shown.text : formatted;
  }

  function openEditor(key, value, encoding, createOnly) {
    $('value-empty').hidden = true;
    $('value-view').hidden = true;
    $('editor').hidden = false;
    $('edit-key').value = key;
    $('edit-value').value = value;
    $('edit-encoding').value = encoding;
    $('create-only').checked = createOnly;
    (key ? $('edit-value') : $('edit-key')).focus();
  }

  function editShown() {
    const shown = state.shown;
    if (shown.text === null) openEditor(shown.key, bytesToBase64(shown.bytes), 'base64', false);
    else openEditor(shown.key, shown.text, 'text', false);
  }

  function closeEditor() {
    $('editor').hidden = true;
    if (state.shown) $('value-view').hidden = false;
    else $('value-empty').hidden = false;
  }

  async function save() {
    clearMessage();
    const key = $('edit-key').value;
    const onlyIf = $('create-only').checked ? 'absent' : null;
    const item = { key, value: $('edit-value').value };
    setStatus('Saving "' + key + '"…');
    let answer;
    try {
      const encoding = $('edit-encoding').value;
      answer = await call('POST', storePath('set-many'), { json: { items: [item], encoding, only_if: onlyIf } });
    } catch (err) {
      report(err);
      return;
    }
    setStatus('');
    const data = answer.data;
    if (data.failed && key in data.failed) {
      showMessage('Not saved: "' + key + '" failed: ' + data.failed[key] + '.');
      return;
    }
    if (data.unknown && key in data.unknown) {
      showMessage('The write of "' + key + '" may or may not have been applied: ' + data.unknown[key] + '. Reload it to see.');
      return;
    }
    showMessage('Saved "' + key + '" in store "' + state.store + '".', 'info');
    await loadPage();
    await showValue(key);
    showMessage('Saved "' + key + '" in store "' + state.store + '".', 'info');
  }

  // -- outcomes of many keys -----------------------------------------------------------------

  function emptyOutcome() {
    return { succeeded: [], failed: {}, unknown: {}, notAttempted: {}, detail: {} };
  }

  function merge(outcome, data) {
    outcome.succeeded.push(...data.succeeded);
    Object.assign(outcome.failed, data.failed);
    Object.assign(outcome.unknown, data.unknown);
    for (const key of data.not_attempted || []) outcome.notAttempted[key] = 'not attempted after an earlier failure';
  }

  function showOutcomes(title, outcome, verb) {
    const rows = [];
    const add = (key, cls, label, reason) => rows.push([key, cls, label, reason]);
    for (const [key, reason] of Object.entries(outcome.failed)) add(key, 'failed', 'failed', reason);
    for (const [key, reason] of Object.entries(outcome.unknown)) add(key, 'unknown', 'unknown', reason);
    for (const [key, reason] of Object.entries(outcome.notAttempted)) add(key, 'not-attempted', 'not attempted', reason);
    for (const key of outcome.succeeded) add(key, 'succeeded', verb, outcome.detail[key] || '');
    const counts = [
      plural(outcome.succeeded.length, 'key', 'keys') + ' ' + verb,
      Object.keys(outcome.failed).length.toLocaleString('en') + ' failed',
      Object.keys(outcome.unknown).length.toLocaleString('en') + ' unknown',
    ];
    const skipped = Object.keys(outcome.notAttempted).length;
    if (skipped) counts.push(skipped.toLocaleString('en') + ' not attempted');
    $('outcomes-title').textContent = 'Outcomes: ' + title;
    $('outcomes-summary').textContent = counts.join(', ') + '.';
    $('outcomes-rows').replaceChildren(...rows.slice(0, OUTCOME_ROWS).map(([key, cls, label, reason]) => {
      const tr = document.createElement('tr');
      tr.className = cls;
      for (const [text, cell] of [[key, 'key'], [label, 'outcome'], [reason, 'reason']]) {
        const td = document.createElement('td');
        td.className = cell;
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }));
    const more = rows.length - OUTCOME_ROWS;
    $('outcomes-more').hidden = more <= 0;
    $('outcomes-more').textContent = more > 0
      ? '… and ' + plural(more, 'more key', 'more keys') + ' (failures are listed first).'
      : '';
    $('outcomes').hidden = false;
  }

  function chunks(items, size) {
    const parts = [];
    for (let i = 0; i < items.length; i += size) parts.push(items.slice(i, i + size));
    return parts;
  }

  async function manyKeys(items, send, outcome, keyOf) {
    // sends `items` in chunks the component accepts; a refused chunk stops the run and is accounted for
    const parts = chunks(items, state.limits.max_batch_keys);
    for (let i = 0; i < parts.length; i++) {
      try {
        merge(outcome, (await send(parts[i])).data);
      } catch (err) {
        const message = err instanceof ApiError ? err.message : String(err);
        for (const item of parts[i]) outcome.unknown[keyOf(item)] = 'the request failed: ' + message;
        for (const part of parts.slice(i + 1)) {
          for (const item of part) outcome.notAttempted[keyOf(item)] = 'not sent after an earlier failure';
        }
        return err;
      }
    }
    return null;
  }

  async function deleteSelected() {
    clearMessage();
    $('delete-confirm').hidden = true;
    const keys = Array.from(state.selected).sort();
    const store = state.store;
    setStatus('Deleting ' + plural(keys.length, 'key', 'keys') + '…');
    const outcome = emptyOutcome();
    const send = (part) => call('POST', storePath('delete-many'), { json: { keys: part } });
    const error = await manyKeys(keys, send, outcome, (key) => key);
    for (const key of outcome.succeeded) state.selected.delete(key);
    showOutcomes('delete ' + plural(keys.length, 'key', 'keys') + ' from store "' + store + '"', outcome, 'deleted');
    if (error) report(error);
    else setStatus('');
    await loadPage();
  }

  async function copySelected() {
    clearMessage();
    const toPrefix = $('copy-prefix').value;
    const toStore = $('copy-store').value.trim();
    const keys = Array.from(state.selected).sort();
    const pairs = keys.map((key) => [key, toPrefix + (key.startsWith(state.prefix) ? key.slice(state.prefix.length) : key)]);
    const store = state.store;
    const outcome = emptyOutcome();
    for (const [from, to] of pairs) outcome.detail[from] = 'to "' + to + '"' + (toStore ? ' in store "' + toStore + '"' : '');
    const body = (part) => ({ pairs: part, overwrite: $('copy-overwrite').checked, to_store: toStore || null });
    setStatus('Copying ' + plural(keys.length, 'key', 'keys') + '…');
    const send = (part) => call('POST', storePath('copy-many'), { json: body(part) });
    const error = await manyKeys(pairs, send, outcome, (pair) => pair[0]);
    if (toStore && outcome.succeeded.length) remember(toStore);
    const title = 'copy ' + plural(keys.length, 'key', 'keys') + ' from store "' + store + '"'
      + (toStore ? ' to store "' + toStore + '"' : '');
    showOutcomes(title, outcome, 'copied');
    if (error) report(error);
    else setStatus('');
    await loadPage();
  }

  // -- NDJSON export and import --------------------------------------------------------------

  function progress(done, total, label) {
    $('progress-box').hidden = false;
    $('progress').max = Math.max(total, 1);
    $('progress').value = done;
    $('progress-label').textContent = label;
  }

  function fileName(text) {
    return text.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '') || 'keys';
  }

  async function exportKeys() {
    clearMessage();
    const prefix = $('prefix').value;
    const store = state.store;
    const parts = [];
    let cursor = null;
    let count = 0;
    try {
      do {
        progress(0, 1, 'Exported ' + plural(count, 'key', 'keys') + ' so far…');
        const query = { prefix, encoding: 'text', limit: state.limits.max_page_keys, cursor };
        const answer = await call('GET', storePath('export'), { query });
        parts.push(answer.data);
        count += Number(answer.headers.get('kvbatch-keys') || '0');
        cursor = answer.headers.get('kvbatch-next-cursor');
      } while (cursor);
    } catch (err) {
      $('progress-box').hidden = true;
      report(err);
      return;
    }
    const name = fileName(store + (prefix ? '-' + prefix : '')) + '.ndjson';
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob(parts, { type: 'application/x-ndjson' }));
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    progress(1, 1, 'Exported ' + plural(count, 'key', 'keys') + '.');
    showMessage('Exported ' + plural(count, 'key', 'keys') + ' from store "' + store + '"'
      + (prefix ? ' with prefix "' + prefix + '"' : '') + ' as ' + name + '.', 'info');
  }

  function importBatches(lines) {
    // batches of whole lines within the component's line and body limits (a line over the body limit goes alone: 413)
    const encoder = new TextEncoder();
    const batches = [];
    let batch = [];
    let bytes = 0;
    for (const line of lines) {
      const size = encoder.encode(line.text).length + 1;
      if (batch.length && (batch.length === state.limits.max_batch_keys || bytes + size > state.limits.max_body_bytes)) {
        batches.push(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(line);
      bytes += size;
    }
    if (batch.length) batches.push(batch);
    return batches;
  }

  async function importFile() {
    clearMessage();
    const file = $('import-file').files[0];
    if (!file) {
      showMessage('Choose an NDJSON file to import first.');
      return;
    }
    const store = state.store;
    const lines = (await file.text()).split('\n')
      .map((text, index) => ({ text, number: index + 1 }))
      .filter((line) => line.text.trim() !== '');
    const batches = importBatches(lines);
    const outcome = emptyOutcome();
    let done = 0;
    let error = null;
    progress(0, lines.length, 'Imported 0 of ' + plural(lines.length, 'line', 'lines'));
    for (const batch of batches) {
      try {
        const answer = await call('POST', storePath('import'), {
          query: { encoding: $('import-encoding').value },
          ndjson: batch.map((line) => line.text).join('\n') + '\n',
        });
        merge(outcome, answer.data);
      } catch (err) {
        if (err instanceof ApiError && err.body && typeof err.body.error === 'string') {
          // the component numbers the lines of one request: name them as lines of the file
          const fileLine = (match, n) => 'line ' + (batch[Number(n) - 1] || { number: n }).number;
          const reason = err.body.error.replace(/\bline (\d+)\b/g, fileLine);
          const first = batch[0].number;
          const last = lines[lines.length - 1].number;
          const text = describe(err.status, { error: reason })
            + ' Lines ' + first + ' to ' + last + ' of the file were not imported.';
          error = new ApiError(err.status, text, err.body);
        } else {
          error = err;
        }
        break;
      }
      done += batch.length;
      progress(done, lines.length, 'Imported ' + done.toLocaleString('en') + ' of ' + plural(lines.length, 'line', 'lines'));
    }
    showOutcomes('import ' + file.name + ' into store "' + store + '"', outcome, 'imported');
    if (error) report(error);
    await loadPage();
  }

  // -- wiring --------------------------------------------------------------------------------

  let pending = 0;

  function busy(work) {
    // aria-busy on <main> while anything the user started is under way
    pending += 1;
    document.querySelector('main').setAttribute('aria-busy', 'true');
    return Promise.resolve().then(work).catch(report).finally(() => {
      pending -= 1;
      if (pending === 0) document.querySelector('main').setAttribute('aria-busy', 'false');
    });
  }

  function on(id, event, handler) {
    $(id).addEventListener(event, (e) => {
      if (event === 'submit') e.preventDefault();
      busy(() => handler(e));
    });
  }

  function wire() {
    on('login-form', 'submit', () => signIn($('token').value.trim()));
    on('sign-out', 'click', () => signOut(null));
    on('store-form', 'submit', async () => {
      chooseStore($('store').value.trim());
      state.selected.clear();
      state.current = null;
      state.shown = null;
      $('value-view').hidden = true;
      $('editor').hidden = true;
      $('value-empty').hidden = false;
      clearMessage();
      await listFromStart();
    });
    on('list-form', 'submit', () => { clearMessage(); return listFromStart(); });
    on('page-size', 'change', () => listFromStart());
    on('count-all', 'click', countAll);
    on('filter', 'input', renderKeys);
    on('next-page', 'click', () => {
      if (!state.next) return null;
      state.cursors[state.page + 1] = state.next;
      state.page += 1;
      return loadPage();
    });
    on('prev-page', 'click', () => {
      if (state.page === 0) return null;
      state.page -= 1;
      return loadPage();
    });
    on('select-all', 'change', () => {
      const checked = $('select-all').checked;
      for (const key of filteredKeys()) {
        if (checked) state.selected.add(key);
        else state.selected.delete(key);
      }
      renderKeys();
    });
    on('clear-selection', 'click', () => { state.selected.clear(); renderKeys(); });
    on('new-key', 'click', () => openEditor('', '', 'text', true));
    on('edit', 'click', editShown);
    on('reload-value', 'click', () => showValue(state.shown.key));
    on('cancel-edit', 'click', closeEditor);
    on('editor', 'submit', save);
    on('delete-selected', 'click', () => {
      const count = plural(state.selected.size, 'key', 'keys');
      $('delete-question').textContent = 'Delete ' + count + ' from store "' + state.store + '"?';
      $('delete-confirm').hidden = false;
      $('delete-no').focus();
    });
    on('delete-no', 'click', () => { $('delete-confirm').hidden = true; $('delete-selected').focus(); });
    on('delete-yes', 'click', deleteSelected);
    on('copy-form', 'submit', copySelected);
    on('export', 'click', exportKeys);
    on('import-form', 'submit', importFile);
  }

  function start() {
    wire();
    restoreStores();
    readFragment();
    const token = sessionStorage.getItem(TOKEN_KEY);
    busy(() => (token ? signIn(token) : showLogin()));
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
"""
