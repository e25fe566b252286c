//! Shape extraction on the fixture folder `fixtures/shapes/*.sql`: each file's shapes are an
//! insta snapshot (`tests/snapshots/`), so any change in what advise is told shows up in review.

use std::path::Path;

use dbopt::workload::shape;

#[test]
fn fixture_shapes_match_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/shapes");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/shapes")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "fixture folder too small: {files:?}");
    for f in files {
        let sql = std::fs::read_to_string(&f).expect("read fixture");
        let name = f
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_string();
        let shapes = shape::extract(&sql).unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::assert_json_snapshot!(name, shapes);
    }
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let sql = "SELECT id\nFROM users\nWHERE id = = 3";
    let e = shape::extract(sql).unwrap_err();
    assert_eq!((e.line, e.column), (3, 12), "{e}");
    assert_eq!(e.caret(sql).unwrap(), "  WHERE id = = 3\n             ^");
}
