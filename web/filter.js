// The filter: words of the filter box and the status chips, applied to testcases.
//
//   login           substring of the UID (test/suite/testcase…), case-insensitive
//   *timeout*       a glob (`*`, `?`) matching the whole name or UID of the testcase or a parent
//   tag:smoke       the testcase has this tag (inherited tags count)
//   "two words"     a phrase (quotes keep the space)
//   -word, -tag:x   excludes what the word would match
//
// Every word must hold; the status chips (if any is on) must match one of them.

import { globToRegExp } from './util.js';

// `optional` chips show only while some testcase has their status (or they are on).
export const STATUS_CHIPS = [
  { key: 'passed', label: 'Passed', statuses: ['passed'] },
  { key: 'failed', label: 'Failed', statuses: ['failed', 'xpass_strict', 'incomplete'] },
  { key: 'error', label: 'Error', statuses: ['error'] },
  { key: 'crashed', label: 'Crashed', statuses: ['crashed'], optional: true },
  { key: 'xfail', label: 'Xfail', statuses: ['xfail'], optional: true },
  { key: 'xpass', label: 'Xpass', statuses: ['xpass'], optional: true },
  { key: 'skipped', label: 'Skipped', statuses: ['skipped'] },
  { key: 'cancelled', label: 'Cancelled', statuses: ['cancelled'], optional: true },
  { key: 'not_run', label: 'Not run', statuses: ['unknown'] },
];

// Testcases per chip among those the filter words (not the chips) let through: what a chip
// would show if it were the only one on.
export function chipCounts(model, filter) {
  const byStatus = new Map();
  if (filter.words.length === 0) {
    // Without words the plan's counts say it at once (10,000 testcases, every update); their
    // `failed` already holds the strict xpasses, which have no bucket of their own.
    const counts = model.plan.counts;
    for (const chip of STATUS_CHIPS) byStatus.set(chip.key, chip.statuses.reduce((sum, status) => sum + (counts[status] || 0), 0));
    return byStatus;
  }
  const words = { words: filter.words, statuses: new Set(), active: true };
  const perStatus = new Map();
  for (const node of model.nodes.values()) {
    if (node.kind !== 'testcase' || !testcaseMatches(words, node, model)) continue;
    perStatus.set(node.status, (perStatus.get(node.status) || 0) + 1);
  }
  for (const chip of STATUS_CHIPS) byStatus.set(chip.key, chip.statuses.reduce((sum, status) => sum + (perStatus.get(status) || 0), 0));
  return byStatus;
}

export function parseFilter(text, chipKeys) {
  const words = [];
  for (const raw of String(text || '').match(/-?(?:tag:)?"[^"]*"?|\S+/gi) || []) {
    let token = raw;
    let negated = false;
    if (token.length > 1 && token.startsWith('-')) {
      negated = true;
      token = token.slice(1);
    }
    token = token.replace(/"/g, '');
    if (!token) continue;
    if (token.toLowerCase().startsWith('tag:')) {
      const tag = token.slice(4);
      if (tag) words.push({ kind: 'tag', tag: tag.toLowerCase(), negated });
    } else if (/[*?]/.test(token)) {
      words.push({ kind: 'glob', regex: globToRegExp(token), negated });
    } else {
      words.push({ kind: 'text', text: token.toLowerCase(), negated });
    }
  }
  const statuses = new Set();
  for (const chip of STATUS_CHIPS) {
    if (chipKeys && chipKeys.has(chip.key)) for (const status of chip.statuses) statuses.add(status);
  }
  return { words, statuses, active: words.length > 0 || statuses.size > 0 };
}

function wordMatches(word, testcase, model) {
  switch (word.kind) {
    case 'tag':
      return testcase.tags.some((tag) => tag.toLowerCase() === word.tag);
    case 'text':
      return testcase.uid.toLowerCase().includes(word.text) || testcase.name.toLowerCase().includes(word.text);
    case 'glob':
      for (const uid of model.pathUp(testcase.uid)) {
        const node = model.node(uid);
        if (word.regex.test(node.uid) || word.regex.test(node.name)) return true;
      }
      return false;
    default:
      return true;
  }
}

export function testcaseMatches(filter, testcase, model) {
  if (filter.statuses.size > 0 && !filter.statuses.has(testcase.status || 'unknown')) return false;
  for (const word of filter.words) {
    if (wordMatches(word, testcase, model) === word.negated) return false;
  }
  return true;
}

// The UIDs to show under a filter: matching testcases and their ancestors; null shows all.
export function visibleUids(model, filter) {
  if (!filter.active) return null;
  const visible = new Set();
  let matched = 0;
  for (const node of model.nodes.values()) {
    if (node.kind !== 'testcase' || !testcaseMatches(filter, node, model)) continue;
    matched += 1;
    for (const uid of model.pathUp(node.uid)) {
      if (visible.has(uid) && uid !== node.uid) break;
      visible.add(uid);
    }
  }
  visible.matched = matched;
  return visible;
}

export function matchingTestcases(model, filter) {
  const found = [];
  for (const node of model.nodes.values()) {
    if (node.kind === 'testcase' && (!filter.active || testcaseMatches(filter, node, model))) found.push(node.uid);
  }
  return found;
}
