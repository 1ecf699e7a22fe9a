// The navigation tree: tests → suites → (parametrizations) → testcases.
//
// Rows are built once (children lazily, on first expansion) and kept in a UID → row map;
// events update only the rows of the nodes they changed. One set of delegated listeners
// serves every row.
//
// Keyboard (the WAI-ARIA tree pattern, roving tabindex): exactly one row is in the tab order,
// so Tab enters and leaves the tree in one step; ↑/↓ move between shown rows, → opens a group
// or moves to its first child, ← closes it or moves to the parent, Home/End go to the first
// and last row. Moving selects the row (its details open); Enter runs it, Space ticks it for
// "Run selected".

import { h, clearElement, displayStatus, displayLabel, passedLabel } from './util.js';

// More testcases than this and suites start collapsed.
const COLLAPSE_ABOVE = 200;
// A filter matching at most this many testcases opens the groups that hold them.
const FILTER_EXPAND_LIMIT = 500;

export class TreeView {
  // callbacks: { onSelect(uid), onRun(uid), onEnv(uid, wanted), onCheckedChange() }
  constructor(root, callbacks, staticMode) {
    this.root = root;
    this.callbacks = callbacks;
    this.staticMode = staticMode;
    this.model = null;
    this.rows = new Map();
    this.expanded = new Set();
    this.filterExpanded = new Set();
    this.visible = null;
    this.selected = null;
    this.checked = new Set();
    root.addEventListener('click', (event) => this.onClick(event));
    root.addEventListener('change', (event) => this.onChange(event));
    root.addEventListener('keydown', (event) => this.onKey(event));
  }

  // A new report (first snapshot, or one of another shape): rebuilds every row.
  setModel(model) {
    const first = this.model === null;
    this.model = model;
    if (first) this.defaultExpansion();
    for (const uid of [...this.checked]) if (!model.node(uid)) this.checked.delete(uid);
    this.rows.clear();
    clearElement(this.root);
    const fragment = document.createDocumentFragment();
    for (const child of model.plan.children) fragment.appendChild(this.buildNode(child, 0));
    this.root.appendChild(fragment);
    if (model.plan.children.length === 0) this.root.appendChild(h('div', { class: 'empty' }, 'The plan has no tests.'));
    this.refreshChecks();
    this.tabStop = null;
    if (this.selected) this.markSelected(this.selected, false);
    this.ensureTabStop();
  }

  // The same shape with new data (a reconnection's snapshot): updates rows in place.
  swapModel(model) {
    this.model = model;
    this.updateRows('all');
  }

  defaultExpansion() {
    const many = this.model.testcaseCount > COLLAPSE_ABOVE;
    const walk = (node) => {
      if (node.kind === 'testcase') return;
      const open = node.kind === 'plan' || node.kind === 'test' || !many;
      if (open) this.expanded.add(node.uid);
      for (const child of node.children) walk(child);
    };
    walk(this.model.plan);
  }

  isOpen(uid) {
    return this.expanded.has(uid) || (this.visible !== null && this.filterExpanded.has(uid));
  }

  buildNode(node, depth) {
    const group = node.kind !== 'testcase';
    const row = h('div', {
      class: 'row',
      role: 'treeitem',
      tabindex: '-1',
      'aria-level': String(depth + 1),
      'aria-selected': 'false',
      dataset: { uid: node.uid, kind: node.kind, testid: 'tree-row', depth: String(depth) },
      style: { '--depth': depth },
    });
    row.appendChild(group
      ? h('button', { class: 'caret', type: 'button', tabindex: '-1', dataset: { testid: 'toggle' }, 'aria-label': 'Expand or collapse' })
      : h('span', { class: 'caret-space' }));
    const checkbox = h('input', { type: 'checkbox', class: 'check live-only', tabindex: '-1', dataset: { testid: 'select' }, title: group ? 'Select every testcase below' : 'Select' });
    row.appendChild(checkbox);
    row.appendChild(h('span', { class: 'dot', dataset: { testid: 'status-dot' } }));
    row.appendChild(h('span', { class: 'name', title: node.uid }, node.name));
    const counts = group ? h('span', { class: 'counts', dataset: { testid: 'counts' } }) : null;
    if (counts) row.appendChild(counts);
    let drivers = null;
    let envToggle = null;
    if (node.kind === 'test' && node.drivers.length > 0) {
      drivers = h('span', { class: 'drivers' });
      row.appendChild(drivers);
      if (!this.staticMode) {
        envToggle = h('button', { class: 'env-toggle live-only', type: 'button', tabindex: '-1', dataset: { testid: 'env-toggle', uid: node.uid } }, h('span', { class: 'knob' }));
        row.appendChild(envToggle);
      }
    }
    if (!this.staticMode) {
      row.appendChild(h('button', { class: 'play live-only', type: 'button', tabindex: '-1', title: `Run ${node.name}`, dataset: { testid: 'run-node', uid: node.uid } }, '▶'));
    }
    const wrap = h('div', { class: 'tnode', role: 'none' }, row);
    const entry = { node, wrap, row, checkbox, counts, drivers, envToggle, depth, children: null, built: false, signature: '' };
    if (group) {
      entry.children = h('div', { class: 'tchildren', role: 'group' });
      wrap.appendChild(entry.children);
    }
    this.rows.set(node.uid, entry);
    this.paintRow(entry);
    if (this.visible !== null && !this.visible.has(node.uid)) wrap.hidden = true;
    if (group && this.isOpen(node.uid)) this.open(entry);
    if (!group) checkbox.checked = this.checked.has(node.uid);
    else if (this.checked.size > 0) {
      const below = this.model.testcasesUnder(node.uid);
      const selected = below.filter((testcase) => this.checked.has(testcase.uid)).length;
      checkbox.checked = below.length > 0 && selected === below.length;
      checkbox.indeterminate = selected > 0 && selected < below.length;
    }
    return wrap;
  }

  open(entry) {
    if (!entry.built) {
      const depth = entry.depth + 1;
      const fragment = document.createDocumentFragment();
      for (const child of entry.node.children) fragment.appendChild(this.buildNode(child, depth));
      entry.children.appendChild(fragment);
      entry.built = true;
    }
    entry.children.hidden = false;
    entry.row.classList.add('open');
    entry.row.setAttribute('aria-expanded', 'true');
  }

  close(entry) {
    if (entry.children) entry.children.hidden = true;
    entry.row.classList.remove('open');
    entry.row.setAttribute('aria-expanded', 'false');
  }

  toggle(uid) {
    const entry = this.rows.get(uid);
    if (!entry || !entry.children) return;
    if (this.isOpen(uid)) {
      this.expanded.delete(uid);
      this.filterExpanded.delete(uid);
      this.close(entry);
      this.ensureTabStop();
    } else {
      this.expanded.add(uid);
      this.open(entry);
    }
  }

  setAllExpanded(open) {
    for (const node of this.model.nodes.values()) {
      if (node.kind === 'testcase' || node.kind === 'plan') continue;
      if (open) this.expanded.add(node.uid);
      else if (node.kind !== 'test') this.expanded.delete(node.uid);
    }
    if (!open) this.filterExpanded.clear();
    for (const entry of [...this.rows.values()]) {
      if (!entry.children) continue;
      if (this.isOpen(entry.node.uid)) this.open(entry);
      else this.close(entry);
    }
  }

  // Data of a row from the model; DOM writes only when something shown changed.
  paintRow(entry) {
    const node = this.model.node(entry.node.uid) || entry.node;
    entry.node = node;
    const counts = node.counts;
    const bad = counts.failed + counts.error + counts.incomplete;
    const passed = passedLabel(counts);
    const shown = displayStatus(node);
    const envStatus = node.env_status || '';
    const driverKey = node.drivers.map((driver) => driver.status).join(',');
    const signature = `${node.status}|${shown.status}|${counts.unknown}|${node.runtime_status}|${counts.total}|${passed.text}|${bad}|${envStatus}|${driverKey}|${node.stale || ''}`;
    if (signature === entry.signature) return;
    entry.signature = signature;
    const row = entry.row;
    const keep = ['open', 'selected'].filter((name) => row.classList.contains(name)).map((name) => ` ${name}`).join('');
    row.className = `row st-${shown.status} rt-${node.runtime_status}${shown.partial ? ' partial' : ''}${node.stale ? ' stale' : ''}${keep}`;
    row.dataset.status = shown.status;
    row.dataset.partial = shown.partial ? 'true' : 'false';
    row.dataset.stale = node.stale ? 'true' : 'false';
    row.dataset.runtimeStatus = node.runtime_status;
    row.title = `${node.uid}\n${displayLabel(node)}${node.runtime_status === 'running' || node.runtime_status === 'waiting' ? ` (${node.runtime_status})` : ''}${node.stale ? `\nstale: ${node.stale}` : ''}`;
    if (entry.counts) {
      clearElement(entry.counts);
      if (bad > 0) entry.counts.appendChild(h('span', { class: 'cnt fail', title: `${bad} failed or errored` }, `✗ ${bad}`));
      const allPassed = passed.total > 0 && passed.passed === passed.total;
      entry.counts.appendChild(h('span', { class: `cnt ${allPassed ? 'pass' : 'total'}`, title: `${passed.passed} of ${passed.total} passed (xfail and xpass count as passed)` }, passed.text));
    }
    if (entry.drivers) {
      clearElement(entry.drivers);
      for (const driver of node.drivers) {
        entry.drivers.appendChild(h('span', {
          class: `drv-dot drv-${driver.status}`,
          title: `${driver.name} (${driver.kind}): ${driver.status.replace('_', ' ')}`,
          dataset: { testid: 'driver-status', driver: driver.name, status: driver.status },
        }));
      }
    }
    if (entry.envToggle) {
      const status = envStatus || 'stopped';
      const up = status === 'started' || status === 'starting';
      entry.envToggle.className = `env-toggle live-only env-${status}${up ? ' on' : ''}`;
      entry.envToggle.dataset.envStatus = status;
      entry.envToggle.disabled = status === 'starting' || status === 'stopping';
      entry.envToggle.title = `Environment ${status}: click to ${up ? 'stop' : 'start'} it`;
    }
  }

  // Repaints the rows of these UIDs ('all': every built row).
  updateRows(uids) {
    if (uids === 'all') {
      for (const entry of this.rows.values()) this.paintRow(entry);
      return;
    }
    for (const uid of uids) {
      const entry = this.rows.get(uid);
      if (entry) this.paintRow(entry);
    }
  }

  // Shows only these UIDs (null: all). Small results of a new filter open the groups that
  // hold them; a live refresh of the same filter (`keepExpansion`) leaves groups as they are.
  setVisible(visible, keepExpansion) {
    this.visible = visible;
    if (!keepExpansion) this.filterExpanded.clear();
    if (!keepExpansion && visible !== null && (visible.matched || 0) <= FILTER_EXPAND_LIMIT) {
      for (const uid of visible) {
        const node = this.model.node(uid);
        if (node && node.kind !== 'testcase') this.filterExpanded.add(uid);
      }
    }
    for (const entry of this.rows.values()) {
      entry.wrap.hidden = visible !== null && !visible.has(entry.node.uid);
    }
    // Open (building on demand) top-down, so newly built rows get the right visibility.
    const walk = (node) => {
      const entry = this.rows.get(node.uid);
      if (!entry || !entry.children) return;
      if (this.isOpen(node.uid)) this.open(entry);
      else this.close(entry);
      if (entry.built) for (const child of node.children) walk(child);
    };
    for (const child of this.model.plan.children) walk(child);
    this.root.classList.toggle('filtered', visible !== null);
    const anyShown = visible === null || visible.size > 0;
    let empty = this.root.querySelector(':scope > .filter-empty');
    if (!anyShown && !empty) {
      empty = h('div', { class: 'empty filter-empty', dataset: { testid: 'filter-empty' } }, 'No testcase matches the filter.');
      this.root.appendChild(empty);
    } else if (anyShown && empty) {
      empty.remove();
    }
    this.ensureTabStop();
  }

  // Highlights a row, opening its ancestors; `reveal` scrolls it into view. The selected row
  // becomes the tree's tab stop.
  markSelected(uid, reveal) {
    const previous = this.selected && this.rows.get(this.selected);
    if (previous) {
      previous.row.classList.remove('selected');
      previous.row.setAttribute('aria-selected', 'false');
    }
    this.selected = uid;
    if (!this.model || !this.model.node(uid)) return;
    const ancestors = this.model.pathUp(uid).slice(1).reverse();
    for (const ancestor of ancestors) {
      const entry = this.rows.get(ancestor);
      if (entry && entry.children && !this.isOpen(ancestor)) {
        this.expanded.add(ancestor);
        this.open(entry);
      }
    }
    const entry = this.rows.get(uid);
    if (!entry) {
      this.ensureTabStop();
      return;
    }
    entry.row.classList.add('selected');
    entry.row.setAttribute('aria-selected', 'true');
    this.setTabStop(entry.row);
    if (reveal) entry.row.scrollIntoView({ block: 'nearest' });
  }

  // The one row Tab reaches (roving tabindex).
  setTabStop(row) {
    if (this.tabStop && this.tabStop !== row) this.tabStop.tabIndex = -1;
    this.tabStop = row;
    row.tabIndex = 0;
  }

  // After rows were rebuilt, hidden or filtered: keeps a shown row in the tab order.
  ensureTabStop() {
    if (this.tabStop && this.tabStop.isConnected && this.isShown(this.tabStop)) return;
    const first = this.shownRows()[0];
    if (first) this.setTabStop(first);
  }

  isShown(row) {
    return row.isConnected && !row.closest('[hidden]');
  }

  // Rows a reader can see now (inside open groups, not filtered out), in tree order.
  shownRows() {
    const rows = [];
    const walk = (container) => {
      for (const wrap of container.children) {
        if (wrap.hidden || !wrap.classList.contains('tnode')) continue;
        rows.push(wrap.firstChild);
        const children = wrap.children[1];
        if (children && !children.hidden) walk(children);
      }
    };
    walk(this.root);
    return rows;
  }

  // Checkbox states of groups: checked when every testcase below is, mixed when some are.
  refreshChecks() {
    if (!this.model) return;
    const walk = (node) => {
      if (node.kind === 'testcase') {
        const checked = this.checked.has(node.uid);
        const entry = this.rows.get(node.uid);
        if (entry) entry.checkbox.checked = checked;
        return [checked ? 1 : 0, 1];
      }
      let selected = 0;
      let total = 0;
      for (const child of node.children) {
        const [s, t] = walk(child);
        selected += s;
        total += t;
      }
      const entry = this.rows.get(node.uid);
      if (entry) {
        entry.checkbox.checked = total > 0 && selected === total;
        entry.checkbox.indeterminate = selected > 0 && selected < total;
      }
      return [selected, total];
    };
    walk(this.model.plan);
  }

  setChecked(uids, checked) {
    for (const uid of uids) {
      if (checked) this.checked.add(uid);
      else this.checked.delete(uid);
    }
    this.refreshChecks();
    this.callbacks.onCheckedChange();
  }

  replaceChecked(uids) {
    this.checked = new Set(uids);
    this.refreshChecks();
    this.callbacks.onCheckedChange();
  }

  onClick(event) {
    const row = event.target.closest('.row');
    if (!row || !this.root.contains(row)) return;
    const uid = row.dataset.uid;
    const button = event.target.closest('button');
    if (button && button.classList.contains('caret')) {
      this.toggle(uid);
      return;
    }
    if (button && button.dataset.testid === 'run-node') {
      this.callbacks.onRun(uid);
      return;
    }
    if (button && button.dataset.testid === 'env-toggle') {
      const up = button.dataset.envStatus === 'started' || button.dataset.envStatus === 'starting';
      this.callbacks.onEnv(uid, up ? 'stopped' : 'started');
      return;
    }
    if (event.target.closest('input')) return;
    this.callbacks.onSelect(uid);
    this.setTabStop(row);
    row.focus({ preventScroll: true });
  }

  onChange(event) {
    const input = event.target;
    if (!input.classList.contains('check')) return;
    const row = input.closest('.row');
    const uid = row.dataset.uid;
    const node = this.model.node(uid);
    if (!node) return;
    // A group's checkbox selects what the filter shows below it.
    let uids = this.model.testcasesUnder(uid).map((testcase) => testcase.uid);
    if (this.visible !== null && node.kind !== 'testcase') uids = uids.filter((candidate) => this.visible.has(candidate));
    this.setChecked(uids, input.checked);
  }

  onKey(event) {
    const row = event.target.closest('.row');
    if (!row || event.target !== row || event.altKey || event.ctrlKey || event.metaKey) return;
    const uid = row.dataset.uid;
    const entry = this.rows.get(uid);
    const group = !!(entry && entry.children);
    let next = null;
    const rows = () => this.shownRows();
    switch (event.key) {
      case 'ArrowDown': {
        const shown = rows();
        next = shown[shown.indexOf(row) + 1];
        break;
      }
      case 'ArrowUp': {
        const shown = rows();
        next = shown[shown.indexOf(row) - 1];
        break;
      }
      case 'Home':
        next = rows()[0];
        break;
      case 'End': {
        const shown = rows();
        next = shown[shown.length - 1];
        break;
      }
      case 'ArrowRight':
        if (group && !this.isOpen(uid)) this.toggle(uid);
        else if (group) next = this.shownRows().find((candidate) => this.model.parentOf(candidate.dataset.uid)?.uid === uid);
        break;
      case 'ArrowLeft': {
        if (group && this.isOpen(uid)) {
          this.toggle(uid);
        } else {
          const parent = this.model.parentOf(uid);
          const parentEntry = parent && this.rows.get(parent.uid);
          if (parentEntry) next = parentEntry.row;
        }
        break;
      }
      case 'Enter':
        if (this.staticMode) this.callbacks.onSelect(uid);
        else this.callbacks.onRun(uid);
        break;
      case ' ':
        if (this.staticMode) {
          this.callbacks.onSelect(uid);
        } else if (entry) {
          entry.checkbox.checked = !entry.checkbox.checked;
          entry.checkbox.dispatchEvent(new Event('change', { bubbles: true }));
        }
        break;
      default:
        return;
    }
    event.preventDefault();
    if (next) {
      this.setTabStop(next);
      next.focus();
      next.scrollIntoView({ block: 'nearest' });
      this.callbacks.onSelect(next.dataset.uid);
    }
  }
}
