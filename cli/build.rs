//! Embeds `fixtures/<provider>/<event>.json` (the events `hookline trigger` sends), so
//! adding an event is adding a file.

use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut found = Vec::new();
    collect(&root, &mut found);
    found.sort();
    let mut out =
        String::from("/// (provider, event, JSON) of every fixture.\npub const FIXTURES: &[(&str, &str, &str)] = &[\n");
    for path in found {
        let rel = path.strip_prefix(&root).expect("under fixtures");
        // A file directly in `fixtures/` belongs to no provider.
        if rel.iter().count() < 2 {
            continue;
        }
        let mut parts = rel.iter().map(|p| p.to_string_lossy().into_owned());
        let provider = parts.next().expect("a provider directory");
        let event = parts.collect::<Vec<_>>().join("/");
        let event = event.strip_suffix(".json").expect("a .json file");
        out.push_str(&format!("    ({provider:?}, {event:?}, include_str!({:?})),\n", path.display().to_string()));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("fixtures.rs");
    std::fs::write(dest, out).expect("write fixtures.rs");
}

fn collect(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            collect(&path, found);
        } else if path.extension().is_some_and(|e| e == "json") {
            found.push(path);
        }
    }
}
