//! Prints what each fixture parses to (run with `--ignored --nocapture`; a debugging aid).
mod common;
use common::*;
use flowlogd_formats::{FormatHint, ParseOptions};

#[test]
#[ignore]
fn dump() {
    let Some(root) = fixtures() else { return };
    let mut files: Vec<_> = walk(&root);
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if name.contains(".expected.") || name.ends_with(".format.txt") || name.ends_with(".md") {
            continue;
        }
        let fields = format_file(&f);
        let r = parse_path(
            &f,
            FormatHint::Auto,
            fields.as_deref(),
            &ParseOptions::default(),
        );
        match r {
            Ok(o) => {
                println!("{name}: rows={} {:?}", o.rows(), o.stats);
                for d in o.dead.iter().take(3) {
                    println!("   DL {} {:?} {:?} {}", d.kind, d.line, d.offset, d.reason);
                }
            }
            Err(e) => println!("{name}: ERR {e}"),
        }
    }
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap().path();
        if e.is_dir() {
            v.extend(walk(&e));
        } else {
            v.push(e);
        }
    }
    v
}
