//! Never a panic on any input: the loader and validator get mangled copies of
//! the example repository and arbitrary text, and must answer with diagnostics.

use std::fs;
use std::path::PathBuf;

use proptest::prelude::*;

use patchwave::spec;

fn example_files() -> Vec<(PathBuf, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/fleet");
    let mut out = Vec::new();
    for sub in ["", "groups", "baselines", "windows", "rollouts"] {
        for e in fs::read_dir(root.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yaml") {
                let text = fs::read_to_string(&p).unwrap();
                out.push((p.strip_prefix(&root).unwrap().to_path_buf(), text));
            }
        }
    }
    out
}

/// Writes one YAML file into a fresh repository and checks it.
fn check_text(name: &str, text: &str) -> spec::Checked {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join(name), text).unwrap();
    spec::check(tmp.path()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn mangled_example_files_never_panic(idx in 0usize..14, cut in 0usize..4000, insert in "[ -~\n\t]{0,12}") {
        let files = example_files();
        let (path, text) = &files[idx % files.len()];
        let cut = cut.min(text.len());
        let cut = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let mangled = format!("{}{}{}", &text[..cut], insert, &text[cut..]);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let checked = check_text(&name, &mangled);
        for d in &checked.diagnostics {
            prop_assert!(d.line >= 1 && d.col >= 1, "{d}");
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let checked = check_text("x.yaml", &format!("apiVersion: patchwave.dev/v1\n{text}"));
        prop_assert!(checked.diagnostics.iter().all(|d| d.line >= 1));
    }
}
