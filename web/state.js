// The report as the browser holds it: the tree from a snapshot, indexed by UID, with every
// update folded in the way the server's report builder folds it (statuses, counts, entries,
// drivers), so a live view and a fresh snapshot agree.

import { combineStatus } from './util.js';

// The buckets of `Counts` in testrig-model: one per status, a strict xpass counts as failed.
export const COUNT_BUCKETS = ['passed', 'failed', 'error', 'skipped', 'xfail', 'xpass', 'incomplete', 'cancelled', 'unknown'];
const COUNT_KEYS = ['total', ...COUNT_BUCKETS];

// The counts bucket of a testcase status.
export function countBucket(status) {
  switch (status) {
    case 'failed':
    case 'xpass_strict':
      return 'failed';
    case 'passed':
    case 'xpass':
    case 'error':
    case 'skipped':
    case 'xfail':
    case 'incomplete':
    case 'cancelled':
      return status;
    default:
      return 'unknown';
  }
}

export function emptyCounts() {
  const counts = { total: 0 };
  for (const bucket of COUNT_BUCKETS) counts[bucket] = 0;
  return counts;
}

// The most severe status among the testcases a counts object summarises.
function statusOfCounts(counts) {
  let status = null;
  for (const bucket of COUNT_BUCKETS) {
    if (counts[bucket] > 0) status = status === null ? bucket : combineStatus(status, bucket);
  }
  return status;
}

function normalizeNode(node) {
  node.children = node.children || [];
  node.entries = node.entries || [];
  node.tags = node.tags || [];
  node.parameters = node.parameters || [];
  node.drivers = node.drivers || [];
  node.timer = node.timer || {};
  node.counts = Object.assign(emptyCounts(), node.counts || {});
  node.status = node.status || 'unknown';
  node.runtime_status = node.runtime_status || 'ready';
  if (node.error === undefined) node.error = null;
}

export class ReportModel {
  constructor(report, seq) {
    this.report = report;
    this.plan = report.plan;
    this.seq = seq || 0;
    this.nodes = new Map();
    // UID → the parent's UID, and UID → the parent node itself (the fold walks up often).
    this.parents = new Map();
    this.parentNodes = new Map();
    // Children that are groups (not testcases), per group: statuses fold through counts
    // for testcases and explicitly for these, so a suite of 10,000 testcases is cheap.
    this.groupChildren = new Map();
    this.testcaseCount = 0;
    this.running = new Set();
    this.tags = new Set();
    this.indexNode(this.plan, null);
  }

  indexNode(node, parent) {
    normalizeNode(node);
    this.nodes.set(node.uid, node);
    if (parent) {
      this.parents.set(node.uid, parent.uid);
      this.parentNodes.set(node.uid, parent);
    }
    for (const tag of node.tags) this.tags.add(tag);
    if (node.kind === 'testcase') {
      this.testcaseCount += 1;
      if (node.runtime_status === 'running') this.running.add(node.uid);
      return;
    }
    const groups = [];
    for (const child of node.children) {
      this.indexNode(child, node);
      if (child.kind !== 'testcase') groups.push(child);
    }
    this.groupChildren.set(node.uid, groups);
  }

  node(uid) {
    return this.nodes.get(uid);
  }

  parentOf(uid) {
    return this.parentNodes.get(uid);
  }

  // The node and its ancestors, nearest first.
  pathUp(uid) {
    const path = [];
    let current = uid;
    while (current !== undefined) {
      path.push(current);
      current = this.parents.get(current);
    }
    return path;
  }

  // Every testcase at or below a node, in tree order.
  testcasesUnder(uid) {
    const found = [];
    const walk = (node) => {
      if (node.kind === 'testcase') found.push(node);
      else for (const child of node.children) walk(child);
    };
    const start = this.nodes.get(uid);
    if (start) walk(start);
    return found;
  }

  // UIDs in pre-order: two reports with the same shape can be swapped without a rebuild.
  shapeKey() {
    const uids = [];
    const walk = (node) => {
      uids.push(node.uid);
      for (const child of node.children) walk(child);
    };
    walk(this.plan);
    return uids.join('\n');
  }

  // Folds one event; returns the UIDs whose rows changed (added to `into` when given), or
  // 'all' when everything may have. The work is the depth of the tree, never its size (but
  // for the plan's end and a reset).
  apply(event, into) {
    const changed = into || new Set();
    const node = event.uid === undefined ? undefined : this.nodes.get(event.uid);
    switch (event.event) {
      case 'test_started':
      case 'suite_started':
        if (this.plan.timer.start === undefined || this.plan.timer.start === null) {
          this.plan.timer.start = event.time;
          this.plan.runtime_status = 'running';
        }
        if (node) {
          node.timer.start = event.time;
          delete node.timer.end;
          node.runtime_status = 'running';
          // A rerun starts clean: the previous run's hook entries and errors go.
          node.error = null;
          node.entries = [];
        }
        break;
      case 'test_finished':
      case 'suite_finished':
        if (node) {
          node.timer.end = event.time;
          node.runtime_status = 'finished';
          if (event.error) node.error = event.error;
        }
        break;
      case 'testcase_started': {
        const group = this.parametrizationOf(event.uid);
        if (group) {
          if (group.timer.start === undefined || group.timer.start === null) group.timer.start = event.time;
          group.runtime_status = 'running';
        }
        if (node) {
          node.timer.start = event.time;
          delete node.timer.end;
          node.runtime_status = 'running';
          // A rerun starts clean.
          node.entries = [];
          node.error = null;
          node.stale = null;
          this.running.add(node.uid);
        }
        break;
      }
      case 'entry_recorded':
        if (node && node.runtime_status !== 'finished') node.entries.push(event.entry);
        break;
      case 'testcase_finished': {
        const group = this.parametrizationOf(event.uid);
        if (group) {
          group.timer.end = event.time;
          group.runtime_status = 'finished';
        }
        if (node && node.runtime_status !== 'finished') {
          node.timer.end = event.time;
          node.status = event.status;
          node.error = event.error || null;
          node.runtime_status = 'finished';
        }
        if (node) this.running.delete(node.uid);
        break;
      }
      case 'driver_status_changed':
        this.applyDriverStatus(event);
        break;
      case 'runtime_status':
        if (node) {
          node.runtime_status = event.runtime_status;
          if (node.kind === 'testcase') {
            if (event.runtime_status === 'running') this.running.add(node.uid);
            else this.running.delete(node.uid);
          }
        }
        break;
      case 'env_status':
        if (node) node.env_status = event.env_status;
        break;
      case 'plan_finished':
        if (this.plan.timer.start === undefined || this.plan.timer.start === null) this.plan.timer.start = event.time;
        this.plan.timer.end = event.time;
        this.plan.runtime_status = 'finished';
        this.report.interrupted = !!event.interrupted;
        this.closeUnfinished(this.plan, event.time);
        this.recomputeAll();
        return 'all';
      case 'reset':
        this.resetResults();
        return 'all';
      case 'reload':
        this.report.reload = event.reload;
        return changed;
      default:
        // Unknown events (a newer server) change nothing we know how to show.
        break;
    }
    // The node's counts and statuses and its ancestors' follow; their rows change.
    if (node) {
      this.refold(node);
      for (let current = node; current; current = this.parentNodes.get(current.uid)) changed.add(current.uid);
    }
    return changed;
  }

  parametrizationOf(uid) {
    const parent = this.parentOf(uid);
    return parent && parent.kind === 'parametrization' ? parent : null;
  }

  applyDriverStatus(event) {
    const test = this.nodes.get(event.uid);
    if (!test) return;
    const driver = test.drivers.find((candidate) => candidate.name === event.driver);
    if (!driver) return;
    driver.start = driver.start || {};
    driver.stop = driver.stop || {};
    const stopping = driver.status === 'stopping';
    switch (event.status) {
      case 'starting':
        driver.start = { start: event.time };
        driver.stop = {};
        driver.error = null;
        driver.log_tail = [];
        break;
      case 'started':
        driver.start.end = event.time;
        break;
      case 'stopping':
        driver.stop.start = event.time;
        break;
      case 'stopped':
        driver.stop.end = event.time;
        break;
      case 'failed':
        if (stopping) driver.stop.end = event.time;
        else if (driver.start.end === undefined || driver.start.end === null) driver.start.end = event.time;
        break;
      default:
        break;
    }
    driver.status = event.status;
    if (event.attributes && Object.keys(event.attributes).length > 0) driver.attributes = event.attributes;
    if (event.error) {
      driver.error = event.error;
      driver.log_tail = event.log_tail || [];
    }
  }

  // Refolds counts and statuses from a node up to the plan after the node changed. A
  // testcase whose counts bucket stayed (it started, it recorded an entry) changes no
  // ancestor's counts or status.
  refold(node) {
    if (typeof node === 'string') node = this.nodes.get(node);
    if (!node) return;
    node.hash = (node.hash || 0) + 1;
    let current = node;
    if (node.kind === 'testcase') {
      const counts = node.counts;
      const after = countBucket(node.status);
      let before = null;
      for (const bucket of COUNT_BUCKETS) {
        if (counts[bucket] > 0) {
          before = bucket;
          break;
        }
      }
      if (counts.total === 1 && before !== null && counts[before] === 1) {
        for (let up = this.parentNodes.get(node.uid); up; up = this.parentNodes.get(up.uid)) up.hash = (up.hash || 0) + 1;
        if (before === after) return;
        counts[before] = 0;
        counts[after] = 1;
        for (let up = this.parentNodes.get(node.uid); up; up = this.parentNodes.get(up.uid)) {
          up.counts[before] -= 1;
          up.counts[after] += 1;
        }
      } else {
        // Counts not of one testcase (an older report): replaced whole.
        const fresh = emptyCounts();
        fresh.total = 1;
        fresh[after] = 1;
        node.counts = fresh;
        for (let up = this.parentNodes.get(node.uid); up; up = this.parentNodes.get(up.uid)) {
          up.hash = (up.hash || 0) + 1;
          for (const key of COUNT_KEYS) up.counts[key] += fresh[key] - (counts[key] || 0);
        }
      }
      current = this.parentNodes.get(node.uid);
    } else {
      for (let up = this.parentNodes.get(node.uid); up; up = this.parentNodes.get(up.uid)) up.hash = (up.hash || 0) + 1;
    }
    for (; current; current = this.parentNodes.get(current.uid)) current.status = this.groupStatus(current);
  }

  // A group's status from its counts, its group children, its own error and its own entries.
  groupStatus(node) {
    let status = node.error ? 'error' : 'skipped';
    const fromCounts = statusOfCounts(node.counts);
    if (fromCounts) status = combineStatus(status, fromCounts);
    for (const child of this.groupChildren.get(node.uid) || []) status = combineStatus(status, child.status);
    if (node.children.length === 0 && !node.error) status = 'unknown';
    if (node.entries.some((entry) => entry.passed === false)) status = combineStatus(status, 'failed');
    return status;
  }

  recomputeAll() {
    this.running.clear();
    const walk = (node) => {
      if (node.kind === 'testcase') {
        node.counts = emptyCounts();
        node.counts.total = 1;
        node.counts[countBucket(node.status)] = 1;
        if (node.runtime_status === 'running') this.running.add(node.uid);
        return;
      }
      const counts = emptyCounts();
      for (const child of node.children) {
        walk(child);
        for (const key of COUNT_KEYS) counts[key] += child.counts[key];
      }
      node.counts = counts;
      node.status = this.groupStatus(node);
    };
    walk(this.plan);
  }

  // What the plan's end does to nodes still waiting or running (the builder's close_unfinished).
  closeUnfinished(node, time) {
    if (node.runtime_status === 'running' || node.runtime_status === 'waiting') {
      if (node.timer.end === undefined || node.timer.end === null) node.timer.end = time;
      node.runtime_status = 'finished';
      if (node.kind === 'testcase') {
        node.status = 'incomplete';
        if (!node.error) node.error = { message: 'interrupted while running' };
      }
    } else if (node.runtime_status === 'ready') {
      node.runtime_status = 'not_run';
    }
    for (const child of node.children) this.closeUnfinished(child, time);
  }

  // Every result cleared; drivers keep their state (environments stay up).
  resetResults() {
    const walk = (node) => {
      node.status = 'unknown';
      node.runtime_status = 'ready';
      node.timer = {};
      node.error = null;
      node.entries = [];
      node.stale = null;
      node.hash = (node.hash || 0) + 1;
      for (const child of node.children) walk(child);
    };
    walk(this.plan);
    this.report.interrupted = false;
    this.recomputeAll();
  }
}

