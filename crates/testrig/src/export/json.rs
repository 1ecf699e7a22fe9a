//! The JSON exporter: the whole report tree, as the `testrig-model` types serialize it.
//!
//! A big report (a million testcases make 780 MB of JSON) is serialized on several threads:
//! the tree is cut into runs of sibling subtrees of a few thousand testcases each, every
//! thread serializes its share of the runs, and the writer puts the pieces down in order
//! with the nodes' own fields around them. The bytes are exactly what `serde_json` writes
//! for the whole report in one go, and memory stays bounded: a thread holds one finished
//! piece at a time.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc::sync_channel;

use testrig_model::{Report, ReportNode, WireJson};

use crate::export::atomic::write_atomically;

/// Testcases per piece a thread serializes at once (about 3 MB of JSON for trivial ones).
#[cfg(not(test))]
const PIECE_TESTCASES: u32 = 4096;
/// Small in unit tests, so that a small tree is cut the ways a big one is.
#[cfg(test)]
const PIECE_TESTCASES: u32 = 64;

/// Writes the report as JSON to `path`, atomically.
pub fn write_json_report(report: &Report, path: &Path) -> std::io::Result<()> {
    write_atomically(path, |writer| write_report(report, writer))
}

/// The report as JSON into `out`: in parallel when it is big enough to gain from it.
///
/// JSON is serialized into `Vec`s only, never straight into `out`: testrig-model compiled
/// serde's code for its types with that writer (`WireJson`), and another writer would
/// compile all of it again here.
fn write_report(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    if report.plan.counts.total < 2 * PIECE_TESTCASES {
        let mut bytes = Vec::new();
        report.write_json(&mut bytes)?;
        return out.write_all(&bytes);
    }
    // A big report goes in pieces even on one core: memory stays bounded.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    // Every field is named; a field added to `Report` (non-exhaustive, so `..` is needed)
    // must be written below too: the tests compare this output with serde's, byte for byte.
    let Report {
        schema_version,
        host,
        pid,
        runpath,
        shuffle_seed,
        interrupted,
        plan,
        reload,
        ..
    } = report;
    let mut text = Vec::new();
    text.extend_from_slice(b"{\"schema_version\":");
    serde_json::to_writer(&mut text, schema_version)?;
    text.extend_from_slice(b",\"host\":");
    serde_json::to_writer(&mut text, host)?;
    text.extend_from_slice(b",\"pid\":");
    serde_json::to_writer(&mut text, pid)?;
    text.extend_from_slice(b",\"runpath\":");
    serde_json::to_writer(&mut text, runpath)?;
    if let Some(seed) = shuffle_seed {
        text.extend_from_slice(b",\"shuffle_seed\":");
        serde_json::to_writer(&mut text, seed)?;
    }
    text.extend_from_slice(b",\"interrupted\":");
    serde_json::to_writer(&mut text, interrupted)?;
    text.extend_from_slice(b",\"plan\":");
    out.write_all(&text)?;
    let mut pieces = Vec::new();
    cut_into_pieces(plan, &mut pieces)?;
    write_pieces(&pieces, threads, out)?;
    text.clear();
    if let Some(reload) = reload {
        text.extend_from_slice(b",\"reload\":");
        serde_json::to_writer(&mut text, reload)?;
    }
    text.push(b'}');
    out.write_all(&text)
}

/// A stretch of the output: bytes known already, or sibling subtrees still to serialize
/// (separated by commas).
enum Piece<'a> {
    Text(Vec<u8>),
    Subtrees(&'a [ReportNode]),
}

/// Appends the pieces that make up `node`'s JSON.
fn cut_into_pieces<'a>(
    node: &'a ReportNode,
    pieces: &mut Vec<Piece<'a>>,
) -> serde_json::Result<()> {
    if node.children.is_empty() || node.counts.total <= PIECE_TESTCASES {
        pieces.push(Piece::Subtrees(std::slice::from_ref(node)));
        return Ok(());
    }
    // `children` is the node's last field: its own fields, then the children's array.
    let mut head = serde_json::to_vec(&node.without_children())?;
    head.pop();
    head.extend_from_slice(b",\"children\":[");
    pieces.push(Piece::Text(head));
    let children = &node.children;
    let mut siblings = Siblings {
        pieces,
        first: true,
    };
    let mut run_start = 0;
    let mut run_testcases = 0;
    for (at, child) in children.iter().enumerate() {
        let testcases = child.counts.total.max(1);
        if testcases > PIECE_TESTCASES {
            siblings.push_run(&children[run_start..at]);
            siblings.separate();
            cut_into_pieces(child, siblings.pieces)?;
            run_start = at + 1;
            run_testcases = 0;
        } else {
            if run_testcases + testcases > PIECE_TESTCASES {
                siblings.push_run(&children[run_start..at]);
                run_start = at;
                run_testcases = 0;
            }
            run_testcases += testcases;
        }
    }
    siblings.push_run(&children[run_start..]);
    pieces.push(Piece::Text(b"]}".to_vec()));
    Ok(())
}

/// The pieces of one children's array, with a comma between siblings.
struct Siblings<'p, 'a> {
    pieces: &'p mut Vec<Piece<'a>>,
    first: bool,
}

impl<'a> Siblings<'_, 'a> {
    /// A comma unless this is the array's first element.
    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.pieces.push(Piece::Text(b",".to_vec()));
        }
    }

    fn push_run(&mut self, run: &'a [ReportNode]) {
        if !run.is_empty() {
            self.separate();
            self.pieces.push(Piece::Subtrees(run));
        }
    }
}

/// Serializes the subtrees among the pieces on `threads` threads (the `i`th on thread
/// `i % threads`) and writes every piece in order as they come.
fn write_pieces(pieces: &[Piece<'_>], threads: usize, out: &mut impl Write) -> std::io::Result<()> {
    std::thread::scope(|scope| {
        let receivers: Vec<_> = (0..threads)
            .map(|thread| {
                // One finished piece waits per thread: memory stays bounded however big
                // the report is.
                let (sender, receiver) = sync_channel::<serde_json::Result<Vec<u8>>>(1);
                scope.spawn(move || {
                    let subtrees = pieces.iter().filter_map(|piece| match piece {
                        Piece::Subtrees(nodes) => Some(nodes),
                        Piece::Text(_) => None,
                    });
                    for nodes in subtrees.skip(thread).step_by(threads) {
                        if sender.send(serialize_subtrees(nodes)).is_err() {
                            return;
                        }
                    }
                });
                receiver
            })
            .collect();
        let mut next_subtrees = 0;
        for piece in pieces {
            match piece {
                Piece::Text(text) => out.write_all(text)?,
                Piece::Subtrees(_) => {
                    let serialized = receivers[next_subtrees % threads]
                        .recv()
                        .map_err(|_| std::io::Error::other("a report-writing thread stopped"))??;
                    out.write_all(&serialized)?;
                    next_subtrees += 1;
                }
            }
        }
        Ok(())
    })
}

fn serialize_subtrees(nodes: &[ReportNode]) -> serde_json::Result<Vec<u8>> {
    let mut bytes =
        Vec::with_capacity(nodes.iter().map(|n| n.counts.total as usize).sum::<usize>() * 800);
    for (at, node) in nodes.iter().enumerate() {
        if at > 0 {
            bytes.push(b',');
        }
        serde_json::to_writer(&mut bytes, node)?;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use testrig_model::{Entry, EntryDetail, NodeKind, Status};

    fn testcase(uid: &str) -> ReportNode {
        let mut node = ReportNode::new(NodeKind::Testcase, uid, uid);
        node.status = Status::Passed;
        node.counts.total = 1;
        node.counts.passed = 1;
        node.entries.push(Entry::new(
            format!("ran {uid}"),
            Some(true),
            None,
            1.5,
            EntryDetail::Log {
                message: "a \"log\"\n".into(),
                value: None,
            },
        ));
        node
    }

    fn group(kind: NodeKind, uid: &str, children: Vec<ReportNode>) -> ReportNode {
        let mut node = ReportNode::new(kind, uid, uid);
        node.counts.total = children.iter().map(|c| c.counts.total).sum();
        node.description = Some("a \"quoted\" description".into());
        node.children = children;
        node
    }

    #[test]
    fn the_parallel_bytes_are_those_of_serde_json() {
        // A wide parametrization, a suite of many small groups and an empty suite, so that
        // every way of cutting the tree shows up.
        let wide = group(
            NodeKind::Parametrization,
            "t/wide/case",
            (0..3 * PIECE_TESTCASES as usize + 7)
                .map(|i| testcase(&format!("t/wide/case/{i}")))
                .collect(),
        );
        let small = (0..40)
            .map(|g| {
                group(
                    NodeKind::Parametrization,
                    &format!("t/many/{g}"),
                    (0..30)
                        .map(|i| testcase(&format!("t/many/{g}/{i}")))
                        .collect(),
                )
            })
            .collect();
        let test = group(
            NodeKind::Test,
            "t",
            vec![
                testcase("t/first"),
                group(NodeKind::Suite, "t/wide", vec![wide]),
                group(NodeKind::Suite, "t/many", small),
                group(NodeKind::Suite, "t/empty", vec![]),
            ],
        );
        let mut report = Report::new(
            group(NodeKind::Plan, "plan", vec![test]),
            "host".into(),
            "run".into(),
        );
        report.shuffle_seed = Some(7);
        for threads in [2, 3] {
            let mut pieces = Vec::new();
            cut_into_pieces(&report.plan, &mut pieces).unwrap();
            assert!(
                pieces.len() > 10,
                "the tree was cut into {} pieces",
                pieces.len()
            );
            let mut parallel = Vec::new();
            write_pieces(&pieces, threads, &mut parallel).unwrap();
            assert_eq!(
                String::from_utf8(parallel).unwrap(),
                serde_json::to_string(&report.plan).unwrap()
            );
        }
        let mut whole = Vec::new();
        write_report(&report, &mut whole).unwrap();
        assert_eq!(whole, serde_json::to_vec(&report).unwrap());
    }
}
