//! The previous release's collector, built by the test that upgrades from it: the commit named
//! in `packaging/previous-release` is exported from this checkout's git history (`git archive`,
//! nothing written to the repository) into `target/previous-release/src-COMMIT/`, and built
//! there with `cargo build --locked -p driftvakt-collector` into a target folder of its own,
//! `target/previous-release/target/` (its own dependencies' versions, from its own lock file).
//! Both stay, so a second run (CI's next one on the same target folder) only checks that the
//! build is fresh. A checkout without that commit (a shallow clone) or without git fails the
//! test with what to do.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

/// The workspace root (this crate is `testkit/base`).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the workspace root")
        .to_path_buf()
}

/// The commit or tag `packaging/previous-release` names (its one line that is not a comment).
pub fn previous_release() -> String {
    let file = workspace().join("packaging/previous-release");
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("{} names no commit", file.display()))
        .to_string()
}

/// `git -C WORKSPACE args…`: its stdout, or the panic message that says what is missing.
fn git(args: &[&str], what: &str) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(workspace())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run git ({e}); install git"));
    assert!(
        out.status.success(),
        "{what}: git {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The full commit id of `rev`, or a panic that says how to get it.
fn resolve(rev: &str) -> String {
    git(
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
        &format!(
            "the previous release {rev} (packaging/previous-release) is not in this checkout's \
             git history; the rolling-upgrade test builds it from there: fetch it (in a \
             shallow clone `git fetch --unshallow`, or `git fetch origin {rev}`)"
        ),
    )
}

/// Exports `commit`'s tree into `src` (once: a stamp file names the commit when it is whole).
fn export(commit: &str, src: &Path) {
    let stamp = src.join(".previous-release-commit");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == commit) {
        return;
    }
    let _ = std::fs::remove_dir_all(src);
    std::fs::create_dir_all(src).unwrap();
    let mut archive = Command::new("git")
        .arg("-C")
        .arg(workspace())
        .args(["archive", "--format=tar", commit])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run git archive");
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(src)
        .stdin(archive.stdout.take().unwrap())
        .status()
        .expect("run tar");
    let archived = archive.wait().unwrap();
    assert!(
        archived.success() && tar.success(),
        "git archive {commit} | tar -x -C {} failed",
        src.display()
    );
    std::fs::write(&stamp, commit).unwrap();
}

/// The previous release's `driftvakt-collector`, built now if it is not yet (see the module
/// doc); prints how long the build took. One build at a time in a test binary.
pub fn previous_collector() -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let rev = previous_release();
    let commit = resolve(&rev);
    let base = crate::process::target_dir().join("previous-release");
    let src = base.join(format!("src-{}", &commit[..12]));
    export(&commit, &src);
    let target = base.join("target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let out = Command::new(cargo)
        .current_dir(&src)
        .args([
            "build",
            "--locked",
            "-p",
            "driftvakt-collector",
            "--target-dir",
        ])
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "building the previous release {rev} ({commit}) in {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "the previous release {rev} built (or found fresh) in {:?}",
        started.elapsed()
    );
    let bin = target.join("debug/driftvakt-collector");
    assert!(
        bin.is_file(),
        "{} is missing after the build",
        bin.display()
    );
    bin
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_file_names_a_commit_of_this_history() {
        let rev = super::previous_release();
        assert_eq!(super::resolve(&rev).len(), 40, "{rev}");
    }

    #[test]
    #[should_panic(expected = "is not in this checkout's git history")]
    fn a_commit_missing_from_the_history_says_how_to_get_it() {
        super::resolve("0123456789abcdef0123456789abcdef01234567");
    }
}
