// Rendering of entries (assertions, logs, tables, attachments, groups) and source locations.
//
// `ctx`: { editorUrl: "vscode://file/{path}:{line}" | null, sourceRoot: string | null,
//          staticMode: bool, failuresOnly: bool }

import { h, formatBytes, prettyJson } from './util.js';
import { attachmentUrl } from './api.js';

const MAX_TABLE_ROWS = 500;

const OPERATOR_SYMBOLS = {
  equal: '==',
  not_equal: '!=',
  less: '<',
  less_equal: '<=',
  greater: '>',
  greater_equal: '>=',
};

// `{path}`, `{line}` and `{column}` of the editor URL pattern, or null without a pattern.
export function editorHref(location, ctx) {
  if (!ctx || !ctx.editorUrl || !location || !location.file) return null;
  let path = location.file;
  if (ctx.sourceRoot && !path.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(path)) {
    path = `${ctx.sourceRoot.replace(/[\\/]+$/, '')}/${path}`;
  }
  return ctx.editorUrl
    .split('{path}').join(path)
    .split('{line}').join(String(location.line || 1))
    .split('{column}').join(String(location.column || 1));
}

export function renderLocation(location, ctx) {
  if (!location || !location.file) return null;
  const text = location.column ? `${location.file}:${location.line}:${location.column}` : `${location.file}:${location.line}`;
  const href = editorHref(location, ctx);
  if (href) return h('a', { class: 'location', href, title: `Open in the editor: ${text}`, dataset: { testid: 'location' } }, text);
  return h('span', { class: 'location', title: text, dataset: { testid: 'location' } }, text);
}

function entryTitle(entry) {
  if (entry.description) return entry.description;
  switch (entry.type) {
    case 'Comparison':
      return entry.operator || 'comparison';
    case 'Boolean':
      return entry.expected ? 'is_true' : 'is_false';
    case 'Contain':
      return entry.negated ? 'not_contain' : 'contain';
    case 'Regex':
      return `regex ${entry.operation || ''}`.trim();
    case 'Log':
      return '';
    default:
      return entry.type || 'entry';
  }
}

const TYPE_LABELS = {
  Comparison: 'comparison',
  IsClose: 'is_close',
  Boolean: 'boolean',
  Fail: 'fail',
  Contain: 'contain',
  EqualSlices: 'equal_slices',
  Raises: 'raises',
  TextDiff: 'text',
  Regex: 'regex',
  TableMatch: 'table match',
  ColumnContain: 'column contain',
  TableLog: 'table',
  DictMatch: 'dict match',
  DictCheck: 'dict check',
  Log: 'log',
  Attachment: 'attachment',
  Group: 'group',
};

function verdictBadge(entry) {
  if (entry.passed === true) return h('span', { class: 'verdict pass', dataset: { testid: 'entry-verdict' } }, 'pass');
  if (entry.passed === false) return h('span', { class: 'verdict fail', dataset: { testid: 'entry-verdict' } }, 'fail');
  return h('span', { class: 'verdict info', dataset: { testid: 'entry-verdict' } }, TYPE_LABELS[entry.type] || 'info');
}

function isShort(text) {
  return typeof text === 'string' && text.length <= 80 && !text.includes('\n');
}

function valueBlock(text, extraClass) {
  return h('pre', { class: `value${extraClass ? ` ${extraClass}` : ''}` }, text === undefined || text === null ? '' : String(text));
}

function missing(text) {
  return h('span', { class: 'missing' }, text || 'missing');
}

// `actual 54 == expected 42` on one line when short (as the console prints it); two labelled
// blocks when not. `labels` name the two sides (`member` / `container` for contain).
function renderComparisonValues(actual, operator, expected, failed, labels) {
  const [left, right] = labels || ['actual', 'expected'];
  if (isShort(actual) && isShort(expected)) {
    return h('div', { class: 'expr', dataset: { testid: 'comparison' } },
      h('span', { class: 'k', dataset: { testid: 'label-actual' } }, left),
      h('code', { class: `actual${failed ? ' bad' : ''}`, dataset: { testid: 'actual' } }, actual),
      h('span', { class: 'op' }, operator),
      h('span', { class: 'k', dataset: { testid: 'label-expected' } }, right),
      h('code', { class: 'expected', dataset: { testid: 'expected' } }, expected));
  }
  const actualBlock = valueBlock(actual, failed ? 'bad' : '');
  actualBlock.dataset.testid = 'actual';
  const expectedBlock = valueBlock(expected);
  expectedBlock.dataset.testid = 'expected';
  return h('div', { class: 'kv', dataset: { testid: 'comparison' } },
    h('div', { class: 'k', dataset: { testid: 'label-actual' } }, left), actualBlock,
    h('div', { class: 'k', dataset: { testid: 'label-expected' } }, `${right} (${operator})`), expectedBlock);
}

function kvGrid(pairs) {
  const grid = h('div', { class: 'kv' });
  for (const [key, value] of pairs) {
    if (value === undefined) continue;
    grid.appendChild(h('div', { class: 'k' }, key));
    grid.appendChild(value instanceof Node ? value : valueBlock(value));
  }
  return grid;
}

function dataTable(columns, rows, rowClass) {
  const table = h('table', { class: 'data' });
  if (columns) table.appendChild(h('thead', null, h('tr', null, columns.map((column) => h('th', null, column)))));
  const body = h('tbody');
  rows.slice(0, MAX_TABLE_ROWS).forEach((cells, index) => {
    body.appendChild(h('tr', { class: rowClass ? rowClass(index) : null }, cells));
  });
  table.appendChild(body);
  const wrap = h('div', { class: 'table-wrap' }, table);
  if (rows.length > MAX_TABLE_ROWS) wrap.appendChild(h('div', { class: 'note' }, `${rows.length - MAX_TABLE_ROWS} more rows not shown`));
  return wrap;
}

function renderDiff(diff) {
  const block = h('pre', { class: 'diff' });
  for (const line of diff.replace(/\n$/, '').split('\n')) {
    let kind = 'ctx';
    if (line.startsWith('+++') || line.startsWith('---')) kind = 'file';
    else if (line.startsWith('@@')) kind = 'hunk';
    else if (line.startsWith('+')) kind = 'add';
    else if (line.startsWith('-')) kind = 'del';
    block.appendChild(h('span', { class: `dl ${kind}` }, `${line}\n`));
  }
  return block;
}

// The text with the matched spans marked; spans are byte offsets into the UTF-8 text.
function highlightMatches(text, matches) {
  const block = h('pre', { class: 'value regex-text' });
  const encoder = new TextEncoder();
  const bytes = encoder.encode(text);
  const decoder = new TextDecoder();
  const ascii = bytes.length === text.length;
  const slice = (start, end) => (ascii ? text.slice(start, end) : decoder.decode(bytes.slice(start, end)));
  const spans = (matches || [])
    .filter((span) => span.end >= span.start && span.start >= 0)
    .sort((a, b) => a.start - b.start);
  let at = 0;
  for (const span of spans) {
    if (span.start < at) continue;
    if (span.start > at) block.appendChild(document.createTextNode(slice(at, span.start)));
    block.appendChild(h('mark', null, slice(span.start, span.end)));
    at = span.end;
  }
  if (at < bytes.length) block.appendChild(document.createTextNode(slice(at, bytes.length)));
  return block;
}

function renderBody(entry, ctx) {
  const failed = entry.passed === false;
  switch (entry.type) {
    case 'Comparison':
      return renderComparisonValues(entry.actual, OPERATOR_SYMBOLS[entry.operator] || entry.operator, entry.expected, failed);
    case 'IsClose': {
      const difference = Math.abs(entry.actual - entry.expected);
      return h('div', null,
        renderComparisonValues(String(entry.actual), '≈', String(entry.expected), failed),
        h('div', { class: 'note' }, `rel_tol ${entry.rel_tol}, abs_tol ${entry.abs_tol}, difference ${difference.toPrecision(3)}`));
    }
    case 'Boolean':
      return h('div', { class: 'expr' },
        h('span', { class: 'k' }, 'expected'), h('code', null, String(entry.expected)),
        h('span', { class: 'k' }, 'got'), h('code', { class: failed ? 'actual bad' : 'actual' }, String(entry.actual)));
    case 'Fail':
      return valueBlock(entry.message, 'bad');
    case 'Contain':
      return renderComparisonValues(entry.member, entry.negated ? 'not in' : 'in', entry.container, failed, ['member', 'container']);
    case 'EqualSlices': {
      const parts = [renderComparisonValues(entry.actual, '==', entry.expected, failed)];
      const mismatches = entry.mismatches || [];
      if (mismatches.length > 0) {
        parts.push(dataTable(['index', 'actual', 'expected'], mismatches.map((row) => [
          h('td', { class: 'num' }, String(row.index)),
          h('td', { class: 'bad' }, row.actual === null || row.actual === undefined ? missing('missing') : h('code', null, row.actual)),
          h('td', null, row.expected === null || row.expected === undefined ? missing('missing') : h('code', null, row.expected)),
        ])));
      }
      return h('div', null, parts);
    }
    case 'Raises':
      return kvGrid([
        ['expected', entry.expected],
        ['error', entry.error === null || entry.error === undefined ? h('div', { class: 'value bad' }, missing('no error was raised')) : valueBlock(entry.error, failed ? 'bad' : '')],
      ]);
    case 'TextDiff':
      if (entry.diff) return renderDiff(entry.diff);
      return h('div', null, h('div', { class: 'note' }, 'the texts are equal'), valueBlock(entry.actual));
    case 'Regex': {
      const matches = entry.matches || [];
      const summary = `${entry.operation || 'match'} — ${matches.length} match${matches.length === 1 ? '' : 'es'}${entry.condition ? ` (wanted ${entry.condition})` : ''}`;
      return h('div', null,
        h('div', { class: 'expr' }, h('span', { class: 'k' }, 'pattern'), h('code', { class: 'pattern' }, entry.pattern), h('span', { class: 'note' }, summary)),
        highlightMatches(entry.text || '', matches));
    }
    case 'TableMatch': {
      const rows = (entry.rows || []).map((cells, index) => [
        h('td', { class: 'num' }, String(index)),
        cells.map((cell) => {
          const differs = cell.expected !== null && cell.expected !== undefined && cell.expected !== cell.actual;
          const actual = cell.actual === null || cell.actual === undefined ? missing() : cell.actual;
          const title = `actual: ${cell.actual ?? '(missing)'}\nexpected: ${cell.expected ?? '(missing)'}`;
          if (!cell.passed) {
            return h('td', { class: 'bad', title }, h('span', { class: 'cell-actual' }, actual), h('span', { class: 'cell-expected' }, ` ≠ ${cell.expected ?? '(missing)'}`));
          }
          return h('td', { title }, actual, differs ? h('span', { class: 'cell-hint' }, ` ~ ${cell.expected}`) : null);
        }),
      ]);
      const parts = [dataTable(['#', ...(entry.columns || [])], rows, (index) => ((entry.rows[index] || []).some((cell) => !cell.passed) ? 'row-bad' : null))];
      for (const note of entry.notes || []) parts.push(h('div', { class: 'note bad-text' }, note));
      return h('div', null, parts);
    }
    case 'ColumnContain':
      return h('div', null,
        h('div', { class: 'note' }, `column `, h('code', null, entry.column), ` must be one of `, h('code', null, (entry.values || []).join(', '))),
        dataTable(['row', entry.column, ''], (entry.rows || []).map((row) => [
          h('td', { class: 'num' }, String(row.index)),
          h('td', { class: row.passed ? null : 'bad' }, row.value),
          h('td', { class: row.passed ? 'ok-text' : 'bad-text' }, row.passed ? '✓' : '✗'),
        ])));
    case 'TableLog':
      return dataTable(entry.columns || [], (entry.rows || []).map((cells) => cells.map((cell) => h('td', null, cell))));
    case 'DictMatch':
      return dataTable(['key', 'actual', 'expected'], (entry.comparison || []).map((row) => [
        h('td', { class: 'dict-key', style: { 'padding-left': `${0.6 + (row.depth || 0) * 1.1}em` } }, row.key),
        h('td', { class: row.passed === false ? 'bad' : null }, row.actual === undefined || row.actual === null ? missing() : h('code', null, row.actual)),
        h('td', null, row.passed === undefined || row.passed === null
          ? missing('ignored')
          : row.expected === undefined || row.expected === null ? missing() : h('code', null, row.expected)),
      ]), (index) => {
        const row = entry.comparison[index];
        if (row.passed === false) return 'row-bad';
        if (row.passed === undefined || row.passed === null) return 'row-ignored';
        return null;
      });
    case 'DictCheck': {
      const list = (keys, bad) => (keys && keys.length
        ? h('div', { class: 'value plain' }, keys.map((key) => h('code', { class: `chip-key${bad ? ' bad' : ''}` }, key)))
        : h('div', { class: 'value plain' }, missing('none')));
      return kvGrid([
        ['must have', list(entry.has_keys)],
        ['must not have', list(entry.absent_keys)],
        ['missing', list(entry.missing, true)],
        ['unexpected', list(entry.unexpected, true)],
      ]);
    }
    case 'Log': {
      if (entry.value !== undefined && entry.value !== null && typeof entry.value === 'object') {
        return h('pre', { class: 'value json' }, prettyJson(entry.value));
      }
      return h('pre', { class: 'value log' }, entry.message);
    }
    case 'Attachment': {
      const name = entry.path ? entry.path.split('/').pop() : entry.source;
      const target = ctx && ctx.staticMode
        ? h('code', { dataset: { testid: 'attachment' } }, entry.path)
        : h('a', { href: attachmentUrl(entry.path), download: name, target: '_blank', rel: 'noopener', dataset: { testid: 'attachment' } }, entry.path);
      return kvGrid([
        ['file', h('div', { class: 'value plain' }, target, h('span', { class: 'note' }, `  ${formatBytes(entry.size)}`))],
        ['source', h('div', { class: 'value plain' }, h('code', null, entry.source))],
      ]);
    }
    case 'Group':
      return renderEntryList(entry.entries || [], ctx, 'group-body');
    default: {
      const rest = Object.assign({}, entry);
      for (const key of ['description', 'passed', 'location', 'timestamp']) delete rest[key];
      return h('pre', { class: 'value json' }, prettyJson(rest));
    }
  }
}

export function renderEntry(entry, ctx) {
  const state = entry.passed === true ? 'pass' : entry.passed === false ? 'fail' : 'info';
  const title = entryTitle(entry);
  const header = h('div', { class: 'entry-head' },
    verdictBadge(entry),
    title ? h('span', { class: 'entry-title' }, title) : null,
    entry.description && TYPE_LABELS[entry.type] && entry.passed !== undefined && entry.passed !== null
      ? h('span', { class: 'entry-type' }, TYPE_LABELS[entry.type])
      : null,
    h('span', { class: 'spacer' }),
    renderLocation(entry.location, ctx));
  let body;
  try {
    body = renderBody(entry, ctx);
  } catch (problem) {
    body = h('pre', { class: 'value json' }, prettyJson(entry));
  }
  return h('div', { class: `entry entry-${state} type-${entry.type || 'unknown'}`, dataset: { testid: 'entry', type: entry.type || 'unknown', passed: String(entry.passed ?? 'none') } },
    header, h('div', { class: 'entry-body' }, body));
}

// Whether an entry (or one inside a group) is a failed assertion.
export function entryFailed(entry) {
  if (entry.passed === false) return true;
  return entry.type === 'Group' && (entry.entries || []).some(entryFailed);
}

export function renderEntryList(entries, ctx, extraClass) {
  const list = h('div', { class: `entries${extraClass ? ` ${extraClass}` : ''}`, dataset: { testid: 'entries' } });
  for (const entry of entries) {
    if (ctx && ctx.failuresOnly && !entryFailed(entry)) continue;
    list.appendChild(renderEntry(entry, ctx));
  }
  return list;
}
