//! CRD tests: generated files are current (no cluster needed); the rest runs
//! against the local control plane.

#[test]
fn generated_crd_files_are_current() {
    let root = wardops_tests::repo_root();
    for dir in ["crds", "charts/wardops/crds"] {
        for (file, want) in wardops::api::crd_files().unwrap() {
            let path = root.join(dir).join(&file);
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                have == want,
                "{} is not what `wardops crds` generates; run `make crds`",
                path.display()
            );
        }
    }
}
