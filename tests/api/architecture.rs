//! The shape of `src/` (ARCHITECTURE.md): imports point down the layers, and no two modules
//! import each other, directly or round a cycle. Reads the `crate::` paths of every source
//! file (comments and `#[cfg(test)]` items left out) and names the offending `use` line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top first. A module may import only modules of its own layer or below.
fn layer(module: &str) -> Option<usize> {
    let top = module.split("::").next().unwrap_or(module);
    Some(match top {
        "main" | "cli" => 1,
        "startup" => 2,
        "features" => 3,
        "http" | "domain" => 4,
        "clock" | "crypto" | "i18n" | "ids" | "mail" | "pow" | "settings" | "storage" | "telemetry" | "throttle" => 5,
        _ => return None,
    })
}

/// The modules whose direction the issue names explicitly: the web plumbing and the bottom
/// layer never import a feature (nor start-up, nor the CLI).
const NAMED_LAYER_NAMES: [&str; 5] = ["cli", "start-up", "a feature", "web plumbing or domain", "foundation"];

/// A unit of the graph: a top-level module, or one feature or domain module.
fn unit(segments: &[&str]) -> Option<String> {
    match segments {
        [] => None,
        ["features" | "domain", sub, ..] => Some(format!("{}::{}", segments[0], sub)),
        [top, ..] => Some(top.to_string()),
    }
}

/// The unit a source file belongs to, from its path under `src/`.
fn unit_of_file(rel: &Path) -> Option<String> {
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).filter(|p| *p != "mod").collect();
    match parts.as_slice() {
        ["lib"] | [] => None,
        ["features"] | ["domain"] => None,
        p => unit(p),
    }
}

/// The source with comments blanked (line numbers kept) and `#[cfg(test)]` items removed.
fn code_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| match l.find("//") {
            // A `//` inside a string literal ("http://") is not a comment; crate paths never
            // stand after one on the same line, so cutting there loses nothing we read.
            Some(i) => l[..i].to_string(),
            None => l.to_string(),
        })
        .collect();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "#[cfg(test)]" {
            // Blank the item that follows: up to its closing brace (or `;` for a one-line item).
            let mut depth = 0i32;
            let mut opened = false;
            let mut j = i;
            while j < lines.len() {
                for c in lines[j].chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                let ends = (opened && depth == 0) || (!opened && lines[j].trim_end().ends_with(';') && j > i);
                lines[j].clear();
                if ends {
                    break;
                }
                j += 1;
            }
            i = j;
        }
        i += 1;
    }
    lines
}

/// Every `crate::a::b` path on a line, with `use crate::{a, b::c}` groups opened.
fn crate_paths(line: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `meldpunt_crate::` or the like
        }
        out.extend(expand(rest));
    }
    out
}

/// Reads one path (or brace group of paths) at the start of `s`.
fn expand(s: &str) -> Vec<Vec<String>> {
    let mut segs = Vec::new();
    let mut s = s;
    loop {
        let ident: String = s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !ident.is_empty() {
            segs.push(ident.clone());
            s = &s[ident.len()..];
        }
        if let Some(r) = s.strip_prefix("::") {
            s = r;
            if let Some(group) = s.strip_prefix('{') {
                // Split the group at top-level commas.
                let mut depth = 0;
                let mut items = vec![String::new()];
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            items.push(String::new());
                            continue;
                        }
                        _ => {}
                    }
                    if let Some(last) = items.last_mut() {
                        last.push(c);
                    }
                }
                let mut all = Vec::new();
                for item in items {
                    let item = item.trim();
                    if item.is_empty() || item == "self" {
                        all.push(segs.clone());
                        continue;
                    }
                    for tail in expand(item) {
                        let mut p = segs.clone();
                        p.extend(tail);
                        all.push(p);
                    }
                }
                return all;
            }
            continue;
        }
        return vec![segs];
    }
}

struct Edge {
    to: String,
    file: PathBuf,
    line: usize,
    text: String,
}

fn graph(src: &Path) -> BTreeMap<String, Vec<Edge>> {
    let mut edges: BTreeMap<String, Vec<Edge>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src").to_path_buf();
            let Some(from) = unit_of_file(&rel) else { continue };
            let text = std::fs::read_to_string(&path).expect("read source");
            let original: Vec<&str> = text.lines().collect();
            for (n, line) in code_lines(&text).iter().enumerate() {
                for p in crate_paths(line) {
                    let segs: Vec<&str> = p.iter().map(String::as_str).collect();
                    let Some(to) = unit(&segs) else { continue };
                    if to != from {
                        edges.entry(from.clone()).or_default().push(Edge {
                            to,
                            file: Path::new("src").join(&rel),
                            line: n + 1,
                            text: original.get(n).unwrap_or(&"").trim().to_string(),
                        });
                    }
                }
            }
        }
    }
    edges
}

/// Problems with the graph: each an upward import or a cycle, naming `use` lines.
fn problems(edges: &BTreeMap<String, Vec<Edge>>) -> Vec<String> {
    let mut found = Vec::new();
    for (from, list) in edges {
        for e in list {
            match (layer(from), layer(&e.to)) {
                (Some(a), Some(b)) if b < a => found.push(format!(
                    "{from} ({}) imports {} ({}), a layer above it: {}:{}: {}",
                    NAMED_LAYER_NAMES[a - 1],
                    e.to,
                    NAMED_LAYER_NAMES[b - 1],
                    e.file.display(),
                    e.line,
                    e.text
                )),
                (None, _) => found.push(format!(
                    "{from} is in no layer: add it to ARCHITECTURE.md and this test"
                )),
                (_, None) => found.push(format!(
                    "{} is in no layer ({}:{}): add it to ARCHITECTURE.md and this test",
                    e.to,
                    e.file.display(),
                    e.line
                )),
                _ => {}
            }
        }
    }
    // Cycles: a depth-first search that reports each back edge with the path round it.
    let adjacency: BTreeMap<&str, BTreeSet<&str>> = edges
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(|e| e.to.as_str()).collect()))
        .collect();
    let mut done = BTreeSet::new();
    for start in adjacency.keys() {
        let mut path: Vec<&str> = Vec::new();
        visit(start, &adjacency, &mut path, &mut done, &mut |cycle: &[&str]| {
            let lines: Vec<String> = cycle
                .windows(2)
                .filter_map(|w| {
                    edges
                        .get(w[0])
                        .and_then(|l| l.iter().find(|e| e.to == w[1]))
                        .map(|e| format!("    {} -> {}: {}:{}: {}", w[0], w[1], e.file.display(), e.line, e.text))
                })
                .collect();
            found.push(format!("import cycle {}:\n{}", cycle.join(" -> "), lines.join("\n")));
        });
    }
    found
}

fn visit<'a>(
    node: &'a str,
    adjacency: &BTreeMap<&'a str, BTreeSet<&'a str>>,
    path: &mut Vec<&'a str>,
    done: &mut BTreeSet<&'a str>,
    report: &mut dyn FnMut(&[&str]),
) {
    if done.contains(node) {
        return;
    }
    if let Some(at) = path.iter().position(|n| *n == node) {
        let mut cycle = path[at..].to_vec();
        cycle.push(node);
        report(&cycle);
        return;
    }
    path.push(node);
    for next in adjacency.get(node).into_iter().flatten() {
        visit(next, adjacency, path, done, report);
    }
    path.pop();
    done.insert(node);
}

#[test]
fn imports_point_down_the_layers_and_never_round_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = graph(&src);
    assert!(
        edges.contains_key("features::coordinator") && edges.contains_key("http"),
        "the reader found the modules"
    );
    let found = problems(&edges);
    assert!(
        found.is_empty(),
        "ARCHITECTURE.md's rules are broken:\n{}",
        found.join("\n")
    );
}

/// The checker itself: an upward import and a cycle, written into a copy, are named.
#[test]
fn the_shape_check_names_an_upward_import_and_a_cycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    for (path, text) in [
        (
            "http/mod.rs",
            "use crate::features::intake::FormPage; // names a feature\n",
        ),
        ("features/intake.rs", "use crate::features::{followup::x, routing};\n"),
        ("features/followup.rs", "use crate::features::intake::y;\n"),
        (
            "features/routing.rs",
            "#[cfg(test)]\nmod tests {\n    use crate::features::intake;\n}\n",
        ),
        (
            "storage/mod.rs",
            "// use crate::features::intake;\nfn f() { crate::clock::now(); }\n",
        ),
    ] {
        let p = src.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    let found = problems(&graph(src));
    assert!(
        found
            .iter()
            .any(|f| f.contains("http (web plumbing or domain) imports features::intake")
                && f.contains("src/http/mod.rs:1")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.contains("import cycle") && f.contains("features::followup") && f.contains("features::intake")),
        "{found:#?}"
    );
    // A test module and a comment are not imports.
    assert!(!found.iter().any(|f| f.contains("features::routing ->")), "{found:#?}");
    assert!(!found.iter().any(|f| f.contains("storage")), "{found:#?}");
    assert_eq!(found.len(), 2, "{found:#?}");
}
