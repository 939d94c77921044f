//! The README's Rust snippets compile as a user pastes them.
//!
//! `ReadmeDoctests` (src/lib.rs) compiles and runs every ```rust block of
//! the README as a doc test. rustdoc compiles a block that has its own
//! `fn main` as it stands (it wraps only blocks without one), so what the
//! doc test compiles is what a user pastes into `src/main.rs`, provided the
//! block hides nothing: no `# ` line that rustdoc compiles but the reader
//! never sees, and no `?` outside a `main` that returns a `Result`. This
//! test holds every block to that.

const README: &str = include_str!("../../README.md");

/// The ```rust blocks of `text`, with the line each starts on.
fn rust_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```rust") => current = Some((i + 1, String::new())),
            (Some(_), l) if l.starts_with("```") => blocks.push(current.take().unwrap()),
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_snippet_is_a_complete_program_with_nothing_hidden() {
    let blocks = rust_blocks(README);
    assert!(blocks.len() >= 3, "the README's snippets were not found");
    for (line, body) in blocks {
        for l in body.lines() {
            let t = l.trim_start();
            assert!(
                !(t == "#" || t.starts_with("# ")),
                "README.md block at line {line} hides a line from its reader: {l:?}"
            );
        }
        assert!(
            body.contains("fn main("),
            "README.md block at line {line} is not a complete program (no fn main)"
        );
        if body.contains('?') {
            assert!(
                body.contains("fn main() -> Result<"),
                "README.md block at line {line} uses `?` in a main that returns no Result"
            );
        }
    }
}

#[test]
fn the_check_finds_a_hidden_line() {
    let text = "```rust\nfn main() {}\n# Ok::<(), ()>(())\n```\n";
    let blocks = rust_blocks(text);
    assert_eq!(blocks.len(), 1);
    assert!(blocks[0].1.lines().any(|l| l.starts_with("# ")));
}
