//! Architecture invariant: the arrows point one way. Between crates, along
//! `engine`, `sharding`, `proto` <- `raft` <- `cluster` <- `api` <- `node`: a crate depends only
//! on crates of its own layer or below, and never in a circle. Inside each crate, between its
//! modules: what a module imports never imports it back, directly or around a circle.
//!
//! A module here is a top-level module of a crate, or a submodule of a service directory
//! (`sqs/`, `sns/`), which grows by concern and keeps each concern a layer of its own; deeper
//! modules count as the one they are in. An import is a `use`, or a path written through
//! `crate::`, `super::`, `self::` or a child module's name. The crate root only declares modules
//! and re-exports, so it is no module of the graph: a path through it (`crate::Engine`) counts as
//! a path to the module the item comes from. Code for tests only (`#[cfg(test)]`) is left out:
//! a test may use what it tests with. Paths inside macro invocations are not seen.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use syn::visit::{self, Visit};

/// The workspace's crates (their directories), lowest layer first.
const LAYERS: [&[&str]; 5] = [&["engine", "sharding", "proto"], &["raft"], &["cluster"], &["api"], &["node"]];

/// Directories whose submodules are modules of their own in the graph.
const SERVICE_DIRECTORIES: [&str; 2] = ["sqs", "sns"];

/// Which modules each module imports, with one path that shows each import.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

#[test]
fn test_architecture_crates_depend_only_on_their_layer_or_below() {
    let mut graph = Graph::new();
    let mut wrong_way = Vec::new();
    for (layer, crates) in LAYERS.iter().enumerate() {
        for name in crates.iter() {
            let manifest = fs::read_to_string(workspace().join(name).join("Cargo.toml")).unwrap();
            for dependency in workspace_dependencies(&manifest) {
                let Some(dependency_layer) = LAYERS.iter().position(|crates| crates.contains(&dependency.as_str()))
                else {
                    wrong_way.push(format!("{name} depends on shoal-{dependency}, which has no layer here"));
                    continue;
                };
                if dependency_layer > layer {
                    wrong_way.push(format!("{name} depends on {dependency}, a crate of a higher layer"));
                }
                graph.entry(name.to_string()).or_default().insert(dependency, "Cargo.toml".to_string());
            }
        }
    }
    if let Some(cycle) = find_cycle(&graph) {
        wrong_way.push(format!("crates depend on each other in a circle: {}", cycle.join(" -> ")));
    }
    assert!(wrong_way.is_empty(), "{}", wrong_way.join("\n"));
}

#[test]
fn test_architecture_modules_of_each_crate_import_one_way() {
    let mut cycles = Vec::new();
    for name in LAYERS.iter().flat_map(|crates| crates.iter()) {
        let graph = module_graph(&source_files(&workspace().join(name).join("src")));
        if let Some(cycle) = find_cycle(&graph) {
            cycles.push(describe(name, &graph, &cycle));
        }
    }
    assert!(cycles.is_empty(), "modules import each other in a circle:\n{}", cycles.join("\n"));
}

/// The checker itself, on small crates: each case is its files and the circle it must find.
#[test]
fn test_architecture_checker_finds_circles() {
    let check = |files: &[(&str, &str)]| {
        let files: Vec<(Vec<String>, String)> = files
            .iter()
            .map(|(path, text)| {
                (path.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect(), text.to_string())
            })
            .collect();
        find_cycle(&module_graph(&files)).map(|cycle| cycle.join(" -> "))
    };
    let root = ("", "mod a; mod b; pub use b::B;");
    // Two modules naming each other, one through `super`.
    let a = ("a", "use crate::b::B; pub struct A;");
    assert_eq!(check(&[root, a, ("b", "pub struct B; fn f(_: super::a::A) {}")]), Some("a -> b -> a".to_string()));
    // Through the crate root's re-export, in a nested `use` group.
    let b = ("b", "pub struct B; use crate::{a::{self}};");
    assert_eq!(check(&[root, ("a", "fn f(_: crate::B) {}"), b]), Some("a -> b -> a".to_string()));
    // A service's submodule using what its parent defines, while the parent uses the submodule.
    let sqs = ("sqs", "mod admin; pub struct State; fn f() { admin::run() }");
    let admin = ("sqs/admin", "use super::State; pub fn run() {}");
    assert_eq!(check(&[root, sqs, admin]), Some("sqs -> sqs::admin -> sqs".to_string()));
    // Tests may use what they test with.
    let a = ("a", "pub struct A; #[cfg(test)] mod tests { use crate::b::B; }");
    assert_eq!(check(&[root, a, ("b", "use crate::a::A; pub struct B;")]), None);
    // One way, with tests that import everything of their module, and a deeper module.
    let a = ("a", "use crate::b::B; #[cfg(test)] mod tests { use super::*; }");
    let b = ("b", "pub struct B; pub(in crate::a) fn f() {}");
    assert_eq!(check(&[root, a, b, ("b/deep", "use super::B; use crate::b::f;")]), None);
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The workspace crates (`shoal-x` as `x`) a manifest depends on, in any dependency table.
fn workspace_dependencies(manifest: &str) -> BTreeSet<String> {
    let mut dependencies = BTreeSet::new();
    let mut in_dependencies = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line.trim_matches(['[', ']']).ends_with("dependencies");
            continue;
        }
        if let Some(rest) = line.strip_prefix("shoal-").filter(|_| in_dependencies) {
            let name = rest.split(['.', ' ', '=']).next().unwrap();
            dependencies.insert(name.to_string());
        }
    }
    dependencies
}

/// The source files under `src`, each with its module path (`["sqs", "admin"]` for
/// `src/sqs/admin.rs` or `src/sqs/admin/mod.rs`; `[]` for the crate root). Binaries in
/// `src/bin/` are crates of their own and left out.
fn source_files(src: &Path) -> Vec<(Vec<String>, String)> {
    let mut files = Vec::new();
    let mut directories = vec![(src.to_path_buf(), Vec::new())];
    while let Some((directory, module)) = directories.pop() {
        for entry in fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                if !(module.is_empty() && name == "bin") {
                    directories.push((path, [module.clone(), vec![name]].concat()));
                }
                continue;
            }
            let Some(stem) = name.strip_suffix(".rs") else {
                continue;
            };
            let at_root = module.is_empty() && (stem == "lib" || stem == "main");
            let path_of_module = if at_root || stem == "mod" {
                module.clone()
            } else {
                [module.clone(), vec![stem.to_string()]].concat()
            };
            files.push((path_of_module, fs::read_to_string(&path).unwrap()));
        }
    }
    files
}

/// The graph of imports between a crate's modules.
fn module_graph(files: &[(Vec<String>, String)]) -> Graph {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(module, _)| module.clone()).collect();
    let mut found = Vec::new();
    // What the root's `use`s name, so that a path through the root can be followed.
    let mut root_names = BTreeMap::new();
    for (module, text) in files {
        let file = syn::parse_file(text).unwrap_or_else(|e| panic!("{}: {e}", module.join("/")));
        let mut paths = Paths { module: module.clone(), found: Vec::new(), renamed: Vec::new() };
        paths.visit_file(&file);
        if !module.is_empty() {
            found.extend(paths.found);
            continue;
        }
        let named = paths.found.into_iter().map(|(_, path)| (path.last().unwrap().clone(), path));
        for (name, path) in named.chain(paths.renamed) {
            let from_root = path.iter().skip_while(|segment| *segment == "crate" || *segment == "self");
            root_names.insert(name, from_root.cloned().collect());
        }
    }
    let mut graph = Graph::new();
    for (module, path) in &found {
        let from = unit_of(module);
        let Some(to) = resolve(&modules, &root_names, module, path).map(|target| unit_of(&target)) else {
            continue;
        };
        graph.entry(from.clone()).or_default();
        if from != to {
            let shown = format!("`{}` in {}", path.join("::"), module.join("::"));
            graph.entry(from).or_default().entry(to).or_insert(shown);
        }
    }
    graph
}

/// The module a path names (as a module path from the crate root), if it names one of this
/// crate's: `None` for a path into another crate or to a local item.
fn resolve(
    modules: &BTreeSet<Vec<String>>,
    root_names: &BTreeMap<String, Vec<String>>,
    module: &[String],
    path: &[String],
) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    let mut target: Vec<String> = match first.as_str() {
        "crate" => rest.to_vec(),
        "self" => [module, rest].concat(),
        "super" => {
            let supers = path.iter().take_while(|segment| *segment == "super").count();
            [&module[..module.len().saturating_sub(supers)], &path[supers..]].concat()
        }
        _ if modules.contains(&[module, &path[..1]].concat()) => [module, path].concat(),
        _ => return None,
    };
    if !target.is_empty() && !modules.contains(&target[..1]) {
        // An item of the crate root: follow its `use` to where the item comes from.
        let through_root = root_names.get(&target[0])?;
        target = [through_root.as_slice(), &target[1..]].concat();
        if !modules.contains(&target[..1]) {
            return None;
        }
    }
    (1..=target.len()).rev().map(|length| target[..length].to_vec()).find(|prefix| modules.contains(prefix))
}

/// The module of the graph a module counts as: its top-level module, or a service's submodule.
fn unit_of(module: &[String]) -> String {
    let service = module.first().is_some_and(|first| SERVICE_DIRECTORIES.contains(&first.as_str()));
    let length = if service { 2 } else { 1 };
    module[..module.len().min(length)].join("::")
}

/// The paths one file writes that may name one of its crate's modules, each with the module
/// (inline modules included) it is written in.
struct Paths {
    module: Vec<String>,
    found: Vec<(Vec<String>, Vec<String>)>,
    /// `use a::B as C` in the crate root: `C` is `a::B`.
    renamed: Vec<(String, Vec<String>)>,
}

impl Paths {
    /// Every path of a `use` tree, `prefix` being the path down to `tree`.
    fn use_tree(&mut self, tree: &syn::UseTree, prefix: &mut Vec<String>) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(&path.tree, prefix);
                prefix.pop();
            }
            syn::UseTree::Name(name) if name.ident == "self" => self.found.push((self.module.clone(), prefix.clone())),
            syn::UseTree::Name(name) => {
                let path = [prefix.clone(), vec![name.ident.to_string()]].concat();
                self.found.push((self.module.clone(), path));
            }
            syn::UseTree::Rename(rename) => {
                let path = [prefix.clone(), vec![rename.ident.to_string()]].concat();
                self.renamed.push((rename.rename.to_string(), path.clone()));
                self.found.push((self.module.clone(), path));
            }
            syn::UseTree::Glob(_) => self.found.push((self.module.clone(), prefix.clone())),
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(tree, prefix);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        // `mod x;` declares a module; it imports nothing.
        if item.content.is_some() && !test_only(&item.attrs) {
            self.module.push(item.ident.to_string());
            visit::visit_item_mod(self, item);
            self.module.pop();
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if !test_only(&item.attrs) {
            self.use_tree(&item.tree, &mut Vec::new());
        }
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !test_only(&item.attrs) {
            visit::visit_item_fn(self, item);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|segment| segment.ident.to_string()).collect();
        // One segment is a local name (`self` the receiver, `crate` in `pub(crate)`).
        if segments.len() >= 2 {
            self.found.push((self.module.clone(), segments));
        }
        visit::visit_path(self, path);
    }

    /// `pub(in crate::a)` says who may see an item; it imports nothing.
    fn visit_vis_restricted(&mut self, _: &'ast syn::VisRestricted) {}
}

/// Is an item compiled for tests only?
fn test_only(attributes: &[syn::Attribute]) -> bool {
    attributes.iter().any(|attribute| match &attribute.meta {
        syn::Meta::List(list) => list.path.is_ident("cfg") && list.tokens.to_string() == "test",
        _ => attribute.path().is_ident("test"),
    })
}

/// A circle in `graph`, as the modules along it with the first repeated at the end.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    let mut finished = BTreeSet::new();
    graph.keys().find_map(|start| cycle_from(graph, start, &mut Vec::new(), &mut finished))
}

/// Depth first from `node`, `trail` being the modules on the way to it.
fn cycle_from(
    graph: &Graph,
    node: &String,
    trail: &mut Vec<String>,
    finished: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(at) = trail.iter().position(|on_trail| on_trail == node) {
        return Some([&trail[at..], std::slice::from_ref(node)].concat());
    }
    if finished.contains(node) {
        return None;
    }
    trail.push(node.clone());
    for next in graph.get(node).into_iter().flat_map(|imports| imports.keys()) {
        if let Some(cycle) = cycle_from(graph, next, trail, finished) {
            return Some(cycle);
        }
    }
    trail.pop();
    finished.insert(node.clone());
    None
}

/// A circle with, for each of its arrows, a path that makes it.
fn describe(crate_name: &str, graph: &Graph, cycle: &[String]) -> String {
    let mut text = format!("{crate_name}: {}", cycle.join(" -> "));
    for pair in cycle.windows(2) {
        text.push_str(&format!("\n    {} -> {}: {}", pair[0], pair[1], graph[&pair[0]][&pair[1]]));
    }
    text
}
