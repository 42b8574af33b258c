//! Temporary names owned by a process, and the sweep of what a dead one
//! left behind. A run killed outright cannot remove its disk snapshots or
//! its half-written files, so the next run that writes in the same place
//! removes them. A name carries its host and process id
//! (`<prefix><host>-<pid>-…`); a name of another host (a shared file
//! system) is never touched, nor one whose process is alive — nor any,
//! where liveness cannot be known (no `/proc`).

use std::path::Path;

/// This process's part of a temporary name: `<host>-<pid>`.
pub fn owner() -> String {
    format!("{}-{}", host(), std::process::id())
}

/// The host name, reduced to letters, digits and dots (`host` if unknown).
fn host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = name.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
    if name.is_empty() { "host".into() } else { name }
}

/// Whether process `pid` of this host may be running.
fn alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Removes the entries of `dir` named `<prefix><host>-<pid>-…` (files or
/// directories) whose owner is a process of this host that has ended, the
/// first time this process asks for `dir` and `prefix`; returns how many. Failures to read or remove are ignored: a sweep is
/// housekeeping, never a reason to stop.
pub fn sweep(dir: &Path, prefix: &str) -> usize {
    if !first_time(dir, prefix) {
        return 0;
    }
    sweep_if(dir, |name| name.strip_prefix(prefix), dead)
}

/// Removes the hidden temporaries of atomic writes in `dir`
/// (`.<name>.tmp-<host>-<pid>-…`) whose writer has ended.
pub fn sweep_temporaries(dir: &Path) -> usize {
    if !first_time(dir, ".tmp-") {
        return 0;
    }
    sweep_if(dir, temporary, dead)
}

/// Whether this process has not yet swept `dir` for `what`: a directory is
/// swept once per process (what is left there is a dead process's, and a
/// run makes a disk store or an atomic write many times).
fn first_time(dir: &Path, what: &str) -> bool {
    static SWEPT: std::sync::Mutex<Vec<(std::path::PathBuf, String)>> = std::sync::Mutex::new(Vec::new());
    let key = (dir.to_path_buf(), what.to_string());
    let mut swept = SWEPT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if swept.contains(&key) {
        return false;
    }
    swept.push(key);
    true
}

/// Removes this process's own entries of `dir` named `<prefix><owner>-…`
/// and its hidden temporaries: for a process about to end on a signal,
/// whose destructors will not run.
pub fn remove_own(dir: &Path, prefix: &str) -> usize {
    let me = |pid| pid == std::process::id();
    sweep_if(dir, |name| name.strip_prefix(prefix), me) + sweep_if(dir, temporary, me)
}

/// The rest of a hidden temporary's name after its marker `.tmp-`.
fn temporary(name: &str) -> Option<&str> {
    name.strip_prefix('.').and_then(|n| n.split_once(".tmp-")).map(|(_, rest)| rest)
}

/// Whether `pid`, a process of this host other than this one, has ended.
fn dead(pid: u32) -> bool {
    pid != std::process::id() && !alive(pid)
}

/// Removes the entries whose `owned(name)` (the rest after the owner's
/// marker) starts with this host and a process id `which` accepts.
fn sweep_if(dir: &Path, owned: impl Fn(&str) -> Option<&str>, which: impl Fn(u32) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let host = format!("{}-", host());
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(&owned)
            .and_then(|rest| rest.strip_prefix(&host))
            .and_then(|rest| rest.split(['-', '.']).next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !which(pid) {
            continue;
        }
        let path = entry.path();
        let gone = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        removed += usize::from(gone.is_ok());
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_a_dead_process_of_this_host_left_is_swept() {
        let d = std::env::temp_dir().join(format!("rewind-leftovers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let h = host();
        // no process has this id (beyond any pid_max)
        let dead = format!("tmp-{h}-4294967295-0");
        let mine = format!("tmp-{}-0", owner());
        let other_host = "tmp-elsewhere.example-4294967295-0".to_string();
        let other_prefix = format!("snap-{h}-4294967295-0");
        std::fs::create_dir_all(d.join(&dead)).unwrap();
        std::fs::write(d.join(&dead).join("state"), b"x").unwrap();
        std::fs::write(d.join(format!("{dead}.h5")), b"x").unwrap();
        for keep in [&mine, &other_host, &other_prefix] {
            std::fs::write(d.join(keep), b"x").unwrap();
        }
        let removed = sweep(&d, "tmp-");
        let mut left: Vec<String> =
            std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        let mut want = vec![mine, other_host, other_prefix];
        want.sort();
        if Path::new("/proc/self").exists() {
            assert_eq!((removed, left), (2, want));
        } else {
            assert_eq!(removed, 0, "liveness unknown: nothing removed");
        }
        // once per process and directory: a second sweep does not read it again
        std::fs::write(d.join(&dead), b"x").unwrap();
        assert_eq!(sweep(&d, "tmp-"), 0);
        std::fs::remove_file(d.join(&dead)).unwrap();
        // hidden temporaries of atomic writes
        let tmp_dead = format!(".run.h5.tmp-{h}-4294967295-3.h5");
        let tmp_mine = format!(".run.h5.tmp-{}-3.h5", owner());
        std::fs::write(d.join(&tmp_dead), b"x").unwrap();
        std::fs::write(d.join(&tmp_mine), b"x").unwrap();
        std::fs::write(d.join(format!("run.h5.tmp-{h}-4294967295-3.h5")), b"not hidden: not ours").unwrap();
        let removed = sweep_temporaries(&d);
        if Path::new("/proc/self").exists() {
            assert_eq!(removed, 1);
            assert!(!d.join(&tmp_dead).exists() && d.join(&tmp_mine).exists());
        }
        // a process ending on a signal removes its own, and only those
        assert_eq!(remove_own(&d, "tmp-"), 2);
        assert!(!d.join(&tmp_mine).exists() && !d.join(format!("tmp-{}-0", owner())).exists());
        assert!(d.join("tmp-elsewhere.example-4294967295-0").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
