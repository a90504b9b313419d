//! Gates on the workspace's shape, checked by reading the sources and manifests: no
//! import cycle between the server's top-level modules, nothing with IO in `domain`,
//! `engine` and `storage` apart from each other, nothing of the monitor in `sim`. Cargo enforces the crate lines; these keep the
//! lines inside `server` and the crates' dependency lists honest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and string literals (unit tests count: a test
/// that reaches across a line would tie the modules together just the same).
fn code_of(text: &str) -> String {
    let strings = Regex::new(r#""(\\.|[^"\\])*""#).unwrap();
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .map(|l| strings.replace_all(l, "\"\"").into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level module → the top-level modules its code names.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let path = Regex::new(r"\bcrate::([a-z_][a-z0-9_]*)").unwrap();
    let group = Regex::new(r"\bcrate::\{([^}]*)\}").unwrap();
    let ident = Regex::new(r"(?:^|,)\s*([a-z_][a-z0-9_]*)").unwrap();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" || module == "shape" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        let mut uses: BTreeSet<String> = path
            .captures_iter(&code)
            .map(|c| c[1].to_string())
            .collect();
        for g in group.captures_iter(&code) {
            uses.extend(ident.captures_iter(&g[1]).map(|c| c[1].to_string()));
        }
        uses.remove(&module);
        // Items of lib.rs itself (VERSION, off_worker, ...) are not modules.
        uses.retain(|u| src.join(format!("{u}.rs")).exists() || src.join(u).is_dir());
        graph.entry(module).or_default().extend(uses);
    }
    graph
}

/// One cycle in `graph`, as the path that closes it, if there is any.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = stack.iter().position(|n| n == node).unwrap();
                let mut cycle = stack[from..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_string(), Mark::Open);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        let mut stack = Vec::new();
        if let Some(c) = visit(node, graph, &mut marks, &mut stack) {
            return Some(c);
        }
    }
    None
}

/// The names under `[dependencies]` in a manifest.
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.']).next().unwrap().trim();
            names.push(name.to_string());
        }
    }
    names
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = module_graph(&manifest_dir().join("src"));
    assert!(graph.contains_key("alerts") && graph["http"].contains("services"));
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle between modules: {}", cycle.join(" → "));
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let g = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert_eq!(find_cycle(&g(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    assert_eq!(
        find_cycle(&g(&[("a", "b"), ("b", "c"), ("c", "a")])).unwrap(),
        ["a", "b", "c", "a"]
    );
    let code =
        code_of("use crate::{alpha, beta::X};\n// crate::gamma\nlet s = \"crate::delta\";\n");
    assert!(code.contains("crate::{alpha, beta::X}"));
    assert!(!code.contains("gamma") && !code.contains("delta"));
}

#[test]
fn each_crate_depends_only_on_what_its_layer_may() {
    let root = manifest_dir().join("..");
    let io = [
        "tokio", "reqwest", "sqlx", "axum", "hyper", "leptos", "mio", "tower", "lettre",
    ];
    let domain = dependencies(&root.join("domain/Cargo.toml"));
    assert!(domain.contains(&"serde".to_string()), "{domain:?}");
    for d in &domain {
        assert!(!io.contains(&d.as_str()), "domain depends on {d}");
    }
    // The engine talks to DVRs and keeps no records; storage keeps records and talks to
    // nobody: neither reaches the other, the web layer or the UI.
    for (krate, banned) in [
        ("engine", ["storage", "server", "app", "axum", "sqlx"]),
        ("storage", ["engine", "server", "app", "axum", "reqwest"]),
    ] {
        let deps = dependencies(&root.join(krate).join("Cargo.toml"));
        assert!(deps.contains(&"domain".to_string()), "{krate}: {deps:?}");
        for d in &deps {
            assert!(!banned.contains(&d.as_str()), "{krate} depends on {d}");
        }
    }
    // What the browser and the server exchange builds for wasm: serde and nothing else.
    let wire = dependencies(&root.join("wire/Cargo.toml"));
    assert_eq!(
        wire,
        ["serde", "serde_json"],
        "wire depends on more than serde"
    );
    // The UI sees the monitor only through the wire shapes and its API.
    let app = dependencies(&root.join("app/Cargo.toml"));
    assert!(app.contains(&"wire".to_string()), "{app:?}");
    for d in &app {
        assert!(
            !["domain", "engine", "storage", "sim", "server"].contains(&d.as_str()),
            "app depends on {d}"
        );
    }
    // The test kit is for tests and benchmarks only: no crate ships with it.
    for krate in [
        "app", "frontend", "wire", "domain", "engine", "storage", "sim", "server",
    ] {
        let deps = dependencies(&root.join(krate).join("Cargo.toml"));
        assert!(
            !deps.contains(&"testkit".to_string()),
            "{krate} depends on testkit outside [dev-dependencies]"
        );
    }
    let sim = dependencies(&root.join("sim/Cargo.toml"));
    assert!(sim.contains(&"axum".to_string()), "{sim:?}");
    for d in &sim {
        assert!(
            !["domain", "engine", "storage", "server", "app"].contains(&d.as_str()),
            "sim depends on {d}"
        );
    }
}

/// Every crate's `[dependencies]`, each named in its own code: a dependency nothing
/// uses costs build time and widens what a supply-chain problem can reach. (Test-only
/// crates belong in `[dev-dependencies]`.)
#[test]
fn every_dependency_is_used() {
    let root = manifest_dir().join("..");
    let crates = [
        "app", "frontend", "wire", "domain", "engine", "storage", "sim", "testkit", "server",
    ];
    for krate in crates {
        let mut files = Vec::new();
        rust_files(&root.join(krate).join("src"), &mut files);
        let code: String = files
            .iter()
            .map(|f| code_of(&std::fs::read_to_string(f).unwrap()))
            .collect();
        for dep in dependencies(&root.join(krate).join("Cargo.toml")) {
            // The import name: dashes become underscores; md-5 is imported as md5.
            let ident = match dep.as_str() {
                "md-5" => "md5".to_string(),
                d => d.replace('-', "_"),
            };
            let named = Regex::new(&format!(r"\b{ident}(::|!|;|\s+as\b)")).unwrap();
            assert!(
                named.is_match(&code),
                "{krate} depends on {dep}, which its code never names"
            );
        }
    }
}

/// Integration tests are one binary per crate (`tests/it/main.rs` and its modules):
/// each file directly under `tests/` is a binary of its own, linked against the whole
/// crate and its dependencies again.
#[test]
fn integration_tests_are_one_binary_per_crate() {
    let root = manifest_dir().join("..");
    let crates = [
        "app", "frontend", "wire", "domain", "engine", "storage", "sim", "server",
    ];
    for krate in crates {
        let tests = root.join(krate).join("tests");
        let Ok(entries) = std::fs::read_dir(&tests) else {
            continue;
        };
        let binaries: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs") || p.join("main.rs").is_file())
            .map(|p| p.display().to_string())
            .collect();
        assert!(
            binaries.len() <= 1,
            "{krate} has {} integration test binaries: {binaries:?}",
            binaries.len()
        );
    }
}

/// A file's module path inside its crate (`notify/providers/mod.rs` → notify::providers;
/// `lib.rs` and `main.rs` → the root).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .strip_prefix(src)
        .unwrap()
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// Every module of a crate → the modules its code names (`crate::`, `super::` and
/// `self::` paths, `{…}` groups expanded), each resolved to the longest module path it
/// starts with. In a file's `#[cfg(test)] mod tests`, `super` is the file's module.
fn crate_edges(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_path(src, f)).collect();
    let path = Regex::new(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)(::\{([^{}]*)\})?")
        .unwrap();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        let here = module_path(src, file);
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let tests_at = code.find("#[cfg(test)]\nmod ").unwrap_or(usize::MAX);
        let mut named = BTreeSet::new();
        for c in path.captures_iter(&code) {
            let start = match &c[1] {
                "crate" => Vec::new(),
                "self" => here.clone(),
                _ if c.get(0).unwrap().start() > tests_at => here.clone(),
                _ => here[..here.len().saturating_sub(1)].to_vec(),
            };
            let mut base = start;
            base.extend(
                c[2].split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
            let mut targets = vec![base.clone()];
            if let Some(group) = c.get(4) {
                for item in group.as_str().split(',') {
                    let mut t = base.clone();
                    t.extend(
                        item.split("::")
                            .map(|s| s.trim().split(' ').next().unwrap_or("").to_string())
                            .filter(|s| !s.is_empty() && s != "self"),
                    );
                    targets.push(t);
                }
            }
            for mut t in targets {
                while !t.is_empty() && !modules.contains(&t) {
                    t.pop();
                }
                named.insert(t);
            }
        }
        edges.entry(here).or_default().extend(named);
    }
    edges
}

/// Sibling modules (children of one parent) that name each other, directly or through
/// others: an edge between two modules counts between the children of their closest
/// common parent that hold them.
fn sibling_cycles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (from, tos) in edges {
        for to in tos {
            let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
            // Within one module (or to its own parent or child): not between siblings.
            if common == from.len() || common == to.len() {
                continue;
            }
            let graph = graphs.entry(from[..common].to_vec()).or_default();
            graph
                .entry(from[common].clone())
                .or_default()
                .insert(to[common].clone());
            graph.entry(to[common].clone()).or_default();
        }
    }
    graphs
        .into_iter()
        .filter_map(|(parent, g)| {
            find_cycle(&g).map(|cycle| {
                let at = if parent.is_empty() {
                    "crate".to_string()
                } else {
                    parent.join("::")
                };
                cycle.into_iter().map(|m| format!("{at}::{m}")).collect()
            })
        })
        .collect()
}

/// No two modules anywhere in the workspace's crates name each other, at any level:
/// what a module uses is below it or beside it, never back up a chain.
#[test]
fn no_import_cycle_between_modules_at_any_level() {
    let root = manifest_dir().join("..");
    for krate in [
        "wire", "domain", "engine", "storage", "sim", "app", "testkit", "server",
    ] {
        let edges = crate_edges(&root.join(krate).join("src"));
        assert!(edges.len() > 1, "{krate}: no modules read");
        let cycles = sibling_cycles(&edges);
        assert!(cycles.is_empty(), "{krate}: import cycles: {cycles:?}");
    }
}

#[test]
fn module_paths_resolve_super_self_and_groups() {
    let dir = std::env::temp_dir().join(format!("cw-shape-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a; mod b;").unwrap();
    std::fs::write(dir.join("a/mod.rs"), "mod x; mod y;").unwrap();
    std::fs::write(dir.join("a/x.rs"), "use super::y::Thing;").unwrap();
    std::fs::write(
        dir.join("a/y.rs"),
        "use crate::{b::f};\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
    )
    .unwrap();
    std::fs::write(dir.join("b.rs"), "use crate::a::x;").unwrap();
    let edges = crate_edges(&dir);
    let m = |s: &str| -> Vec<String> {
        s.split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    };
    assert!(edges[&m("a/x")].contains(&m("a/y")), "{edges:?}");
    assert!(edges[&m("a/y")].contains(&m("b")), "{edges:?}");
    // b → a::x and a::y → b: a cycle between the crate's `a` and `b`.
    assert_eq!(
        sibling_cycles(&edges),
        [vec!["crate::a", "crate::b", "crate::a"]]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
