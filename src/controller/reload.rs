//! Reloading policies: on SIGHUP, or when a policy file changes.
//! Policies given in memory (an environment variable) cannot change while
//! the process runs: [`spawn_fixed_policies`] only answers SIGHUP with a
//! log line saying so.
//!
//! File changes come from `notify` (inotify, FSEvents, ...), watching the
//! policy directory (or a single file's directory, so editors that save by
//! replacing the file are seen). Bursts of events are debounced into one
//! reload. Every reload is sent to the controller, valid or not: it applies
//! valid sets and logs every error of invalid ones, keeping what it runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::supervisor::PolicyUpdate;
use crate::policy::load_path_in;

/// Events closer together than this make one reload.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Start watching `path` and listening for SIGHUP; each trigger loads the
/// policies again (checked against the controller's `home_region`, as at
/// start) and sends the result. Must be called inside a tokio runtime. If
/// the file watcher cannot start, SIGHUP still works (and the reason is
/// logged).
pub fn spawn_reloader(path: PathBuf, home_region: Option<String>) -> mpsc::Receiver<PolicyUpdate> {
    let (updates, receiver) = mpsc::channel(4);
    let (events, mut changed) = mpsc::unbounded_channel::<()>();
    let watcher = start_watcher(&path, events);
    let mut hangups = hangup_signals();
    tokio::spawn(async move {
        // Keeps the watcher alive as long as this task.
        let _watcher = watcher;
        loop {
            let trigger = tokio::select! {
                event = changed.recv() => match event {
                    Some(()) => {
                        // Let the burst of events of one save settle.
                        tokio::time::sleep(DEBOUNCE).await;
                        while changed.try_recv().is_ok() {}
                        "policy files changed"
                    }
                    None => std::future::pending().await,
                },
                _ = next_hangup(&mut hangups) => "SIGHUP",
            };
            tracing::info!(path = %path.display(), "{trigger}: reloading policies");
            let load_from = path.clone();
            let region = home_region.clone();
            let load = move || load_path_in(&load_from, region.as_deref());
            let update = match tokio::task::spawn_blocking(load).await {
                Ok(update) => update,
                Err(error) => {
                    tracing::error!("loading policies failed: {error}");
                    continue;
                }
            };
            if updates.send(update).await.is_err() {
                return;
            }
        }
    });
    receiver
}

/// For policies that cannot change while the process runs (`origin` names
/// where they came from): nothing to watch, and SIGHUP logs that a restart
/// is needed instead of ending the process (its default action). The
/// receiver never yields an update. Must be called inside a tokio runtime.
pub fn spawn_fixed_policies(origin: String) -> mpsc::Receiver<PolicyUpdate> {
    let (updates, receiver) = mpsc::channel(1);
    let mut hangups = hangup_signals();
    tokio::spawn(async move {
        // Nothing is ever sent; the sender just lives as long as the task.
        let _updates = updates;
        loop {
            next_hangup(&mut hangups).await;
            tracing::warn!(
                "SIGHUP: the policies come from {origin}, which cannot change while the \
                 process runs; restart it to apply new policies"
            );
        }
    });
    receiver
}

fn start_watcher(
    path: &Path,
    events: mpsc::UnboundedSender<()>,
) -> Option<notify::RecommendedWatcher> {
    let is_dir = path.is_dir();
    let (watched, mode) = if is_dir {
        (path.to_path_buf(), RecursiveMode::NonRecursive)
    } else {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        (parent.to_path_buf(), RecursiveMode::NonRecursive)
    };
    let file_name = path.file_name().map(|n| n.to_owned());
    let handler = move |result: notify::Result<notify::Event>| {
        let Ok(event) = result else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        let relevant = event.paths.iter().any(|changed| {
            if is_dir {
                is_policy_file(changed)
            } else {
                changed.file_name() == file_name.as_deref()
            }
        });
        if relevant {
            let _ = events.send(());
        }
    };
    let started = notify::recommended_watcher(handler)
        .and_then(|mut watcher| watcher.watch(&watched, mode).map(|()| watcher));
    match started {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            tracing::warn!(
                path = %watched.display(),
                "cannot watch policy files ({error}); reload with SIGHUP"
            );
            None
        }
    }
}

/// YAML files, and the `..data` links Kubernetes swaps when a mounted
/// ConfigMap changes.
fn is_policy_file(path: &Path) -> bool {
    let extension = path.extension().and_then(|e| e.to_str());
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    matches!(extension, Some("yaml" | "yml")) || name.starts_with("..")
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

#[cfg(unix)]
fn hangup_signals() -> Hangups {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(error) => {
            tracing::warn!("cannot listen for SIGHUP ({error}); reloads follow file changes only");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup_signals() -> Hangups {}

#[cfg(unix)]
async fn next_hangup(hangups: &mut Hangups) {
    match hangups {
        Some(signal) => {
            if signal.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangups) {
    std::future::pending::<()>().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A policy file whose policy is named `name` (the tests tell versions
    /// apart by name).
    fn policy(name: &str) -> String {
        format!(
            "name: {name}\ncluster: jobs\nservice: worker\nqueues: [jobs]\n\
             target_backlog_per_task: 10\nmin_tasks: 1\nmax_tasks: 5\n"
        )
    }

    /// The names of the policies in an update (an invalid set has none).
    fn names(update: &PolicyUpdate) -> Vec<String> {
        match update {
            Ok(loaded) => loaded
                .policies
                .iter()
                .map(|p| format!("{p:?}"))
                .map(|debug| {
                    let start = debug.find("name: \"").expect("a name") + 7;
                    debug[start..start + debug[start..].find('"').unwrap()].to_owned()
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Updates until one holds policy `name`, within a bound generous for a
    /// loaded machine (a reload comes some 300 ms after the change).
    async fn until_loaded(updates: &mut mpsc::Receiver<PolicyUpdate>, name: &str) -> usize {
        let mut seen = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let update = tokio::time::timeout_at(deadline, updates.recv())
                .await
                .unwrap_or_else(|_| panic!("no reload holding {name} after {seen} reloads"))
                .expect("the reloader runs");
            seen += 1;
            if names(&update) == [name] {
                return seen;
            }
        }
    }

    /// An editor that saves by writing a new file and renaming it over the
    /// old one replaces the watched file's inode; watching its directory
    /// sees every such save (a watch on the file itself would see the first
    /// and then watch a deleted inode: hence two saves).
    #[tokio::test]
    async fn a_single_file_replaced_by_rename_is_reloaded_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("orders.yaml");
        std::fs::write(&file, policy("first")).unwrap();
        let mut updates = spawn_reloader(file.clone(), None);
        // The watcher starts inside spawn_reloader: later changes are seen.
        let temporary = dir.path().join(".orders.yaml.swp");
        for name in ["second", "third"] {
            std::fs::write(&temporary, policy(name)).unwrap();
            std::fs::rename(&temporary, &file).unwrap();
            until_loaded(&mut updates, name).await;
        }
    }

    /// A Kubernetes ConfigMap volume: `orders.yaml -> ..data/orders.yaml`,
    /// `..data -> ..TIMESTAMP`; an update writes a new `..TIMESTAMP`
    /// directory and renames a new `..data` link over the old one. No
    /// `*.yaml` entry of the directory changes, only `..data`.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_configmap_data_link_swap_is_reloaded() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("..2026_01")).unwrap();
        std::fs::write(root.join("..2026_01/orders.yaml"), policy("first")).unwrap();
        symlink("..2026_01", root.join("..data")).unwrap();
        symlink("..data/orders.yaml", root.join("orders.yaml")).unwrap();
        let mut updates = spawn_reloader(root.to_path_buf(), None);

        std::fs::create_dir(root.join("..2026_02")).unwrap();
        std::fs::write(root.join("..2026_02/orders.yaml"), policy("second")).unwrap();
        symlink("..2026_02", root.join("..data_tmp")).unwrap();
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        std::fs::remove_dir_all(root.join("..2026_01")).unwrap();
        until_loaded(&mut updates, "second").await;
    }

    /// Saves 40 ms apart (well inside the 300 ms debounce) make one reload,
    /// of the last content; then nothing more comes.
    #[tokio::test]
    async fn a_burst_of_saves_is_one_reload_of_the_last_one() {
        assert_eq!(DEBOUNCE, Duration::from_millis(300));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("orders.yaml");
        std::fs::write(&file, policy("first")).unwrap();
        let mut updates = spawn_reloader(dir.path().to_path_buf(), None);
        for name in ["second", "third", "fourth"] {
            std::fs::write(&file, policy(name)).unwrap();
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        assert_eq!(until_loaded(&mut updates, "fourth").await, 1, "one reload");
        let more = tokio::time::timeout(Duration::from_secs(1), updates.recv()).await;
        assert!(more.is_err(), "a second reload: {more:?}");
    }

    #[test]
    fn policy_files_are_yaml_or_configmap_links() {
        assert!(is_policy_file(Path::new("policies/orders.yaml")));
        assert!(is_policy_file(Path::new("policies/orders.yml")));
        assert!(is_policy_file(Path::new("policies/..data")));
        assert!(!is_policy_file(Path::new("policies/.orders.yaml.swp")));
        assert!(!is_policy_file(Path::new("policies/README.md")));
    }
}
