//! The core's modules form layers: no module imports, directly or through others, a module
//! that imports it back. Read from the sources, so a new circle fails the build's tests
//! rather than waiting for a reviewer to notice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a source file names through `crate::`.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
            found.insert(name);
        }
    }
    found
}

/// Top-level module -> the top-level modules it imports (test-only modules left out:
/// nothing imports them).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        let test_only = module == "saga_tests"
            || module == "testkit"
            || relative
                .components()
                .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "tests.rs");
        if module == "lib" || test_only {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Tests inside a module may reach for anything; only the module's own code counts.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let mut uses = imports(code);
        uses.remove(&module);
        uses.retain(|m| m != "testkit" && m != "saga_tests");
        graph.entry(module).or_default().extend(uses);
    }
    graph
}

/// A path from `from` back to `from`, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_owned()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().unwrap();
        for next in graph.get(last).into_iter().flatten() {
            if next == from {
                let mut found = path.clone();
                found.push(next.clone());
                return Some(found);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn no_module_of_the_core_imports_itself_back() {
    let graph = graph();
    assert!(
        graph.contains_key("grant") && graph.contains_key("pipeline"),
        "{graph:?}"
    );
    let circles: Vec<String> = graph
        .keys()
        .filter_map(|m| circle(&graph, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(circles.is_empty(), "import circles: {circles:#?}");
}

#[test]
fn the_shared_grant_room_knows_no_flow() {
    let graph = graph();
    for room in ["pipeline", "access", "wiring"] {
        assert!(!graph["grant"].contains(room), "grant imports {room}");
    }
    assert!(
        !graph["catalog"].contains("grant"),
        "the catalog imports grant"
    );
    assert!(
        graph["error"].is_empty(),
        "error imports {:?}",
        graph["error"]
    );
}

/// The policy lint sits beside the use cases: it may read the catalog and the policy
/// documents, and nothing of grants, flows or ports (a scan must not reach the ledger).
#[test]
fn the_lint_reads_documents_and_the_catalog_only() {
    let graph = graph();
    let allowed = ["catalog", "ids", "policy", "error", "time_fmt"];
    let extra: Vec<&String> = graph["lint"]
        .iter()
        .filter(|m| !allowed.contains(&m.as_str()))
        .collect();
    assert!(extra.is_empty(), "lint imports {extra:?}");
}

#[test]
fn the_estate_knows_no_grant_and_no_flow() {
    let graph = graph();
    for room in ["grant", "pipeline", "access", "wiring"] {
        assert!(!graph["estate"].contains(room), "estate imports {room}");
    }
}
