//! The architecture as a test: reads every `crate::...` path in `src/` (imports and inline
//! paths; comments excluded) and fails on an import that runs up a layer, or on a circle,
//! between top-level modules or between the sibling modules of one folder. ARCHITECTURE.md
//! draws the same picture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules, lowest layer first. A module may use only modules of a lower layer;
/// the foundation modules (layer 0) may also use each other.
const LAYERS: &[&[&str]] = &[
    &["config", "telemetry", "metrics", "net"],
    &["domain"],
    &["db"],
    &["mail"],
    &["auth"],
    &["accounts"],
    &["state"],
    &["graphql"],
    &["http"],
    &["server"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// One `.rs` file: its module path below the crate (`["auth", "google", "oauth"]`) and its code
/// without comments.
struct Source {
    path: PathBuf,
    module: Vec<String>,
    code: String,
}

fn sources() -> Vec<Source> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .into_iter()
        .filter(|p| !p.starts_with(src.join("bin")))
        .filter_map(|path| {
            let rel = path.strip_prefix(&src).expect("under src").with_extension("");
            let mut module: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
            if module.last().is_some_and(|last| last == "mod") {
                module.pop();
            }
            if matches!(module.as_slice(), [one] if one == "lib" || one == "main") {
                return None;
            }
            let text = std::fs::read_to_string(&path).expect("source is readable");
            let code = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
            Some(Source { path, module, code })
        })
        .collect()
}

/// Every path a file names through `crate::`, as its segments (`use crate::auth::{a, b}`
/// yields `["auth"]`, enough for the checks below, plus `["auth", "a"]` where spelled out).
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::` or a longer identifier
        }
        let rest = &code[at + "crate::".len()..];
        let mut segments = Vec::new();
        let mut rest = rest;
        loop {
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            segments.push(rest[..end].to_string());
            match rest[end..].strip_prefix("::") {
                Some(next) => rest = next,
                None => break,
            }
        }
        if !segments.is_empty() {
            paths.push(segments);
        }
    }
    paths
}

/// A cycle in `edges`, if there is one, as the nodes along it.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|node| visit(node, edges, &mut done, &mut Vec::new()))
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let mut wrong = Vec::new();
    for source in sources() {
        let from = &source.module[0];
        let from_layer = layer_of(from).unwrap_or_else(|| panic!("{from} is in no layer: add it to LAYERS"));
        for path in crate_paths(&source.code) {
            let to = &path[0];
            if to == from {
                continue;
            }
            let Some(to_layer) = layer_of(to) else { continue }; // a macro or an item of lib.rs
            if to_layer > from_layer || (to_layer == from_layer && from_layer != 0) {
                wrong.push(format!("{} uses crate::{}", source.path.display(), path.join("::")));
            }
        }
    }
    assert!(wrong.is_empty(), "imports that run up (or across) a layer:\n{}", wrong.join("\n"));
}

#[test]
fn no_circle_between_modules() {
    let sources = sources();
    let modules: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    // Top level, and the children of every folder: an edge from child `a` to sibling `b`
    // when `a` (or anything under it) names `crate::<parent>::b`. A parent's own file
    // (`mod.rs`) only declares and re-exports its children, so it is no node.
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for source in &sources {
        for depth in 0..source.module.len() {
            let parent = source.module[..depth].to_vec();
            let child = &source.module[depth];
            let graph = graphs.entry(parent.clone()).or_default();
            graph.entry(child.clone()).or_default();
            for path in crate_paths(&source.code) {
                if path.len() <= depth || path[..depth] != parent[..] || &path[depth] == child {
                    continue;
                }
                let mut target = parent.clone();
                target.push(path[depth].clone());
                if modules.contains(&target) {
                    graph.entry(child.clone()).or_default().insert(path[depth].clone());
                }
            }
        }
    }
    for (parent, graph) in &graphs {
        if let Some(cycle) = find_cycle(graph) {
            panic!("an import circle among the modules of crate::{}: {}", parent.join("::"), cycle.join(" → "));
        }
    }
}

#[test]
fn the_checks_see_what_they_must() {
    let paths = crate_paths("use crate::auth::{a, b};\nlet x = crate::db::now(); $crate::helpers::X");
    assert_eq!(paths, vec![vec!["auth".to_string()], vec!["db".to_string(), "now".to_string()]]);
    let mut edges = BTreeMap::new();
    edges.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    edges.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert!(find_cycle(&edges).is_some());
    edges.insert("b".to_string(), BTreeSet::new());
    assert!(find_cycle(&edges).is_none());
}
