//! What an agent started with `--data-dir` remembers across restarts: the
//! members it last knew, so it can rejoin them with no seeds given (a node
//! with remembered members never founds a cluster of its own), and the
//! highest primary term it saw, so terms keep rising even when the whole
//! cluster restarts.
//!
//! The directory fails closed: a `members.json` that cannot be read, does
//! not parse or belongs to another cluster or node stops the agent at start
//! ([`MemoryError`]) rather than being ignored, since a node that ignored it
//! would found a cluster of its own and claim the primary role alone.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::core::{MemberState, Snapshot};

const FILE: &str = "members.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Remembered {
    cluster: String,
    node: String,
    members: Vec<RememberedMember>,
    /// Absent in files from before terms existed.
    #[serde(default)]
    term: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct RememberedMember {
    name: String,
    addr: SocketAddr,
}

/// The members worth remembering in a snapshot: every other member that has
/// not left, by name.
pub(super) fn members_of(snapshot: &Snapshot) -> Vec<(String, SocketAddr)> {
    let mut members: Vec<(String, SocketAddr)> = snapshot
        .members
        .iter()
        .filter(|m| !m.local && m.state != MemberState::Left)
        .map(|m| (m.name.to_string(), m.addr))
        .collect();
    members.sort();
    members
}

/// What a data directory held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Recalled {
    /// The remembered members, by name.
    pub members: Vec<(String, SocketAddr)>,
    /// The highest primary term seen.
    pub term: u64,
}

/// What the agent tells an operator to do about a members file it will not
/// use.
const WAY_OUT: &str =
    "remove it to start without remembered members, or point --data-dir elsewhere";

/// Why a data directory cannot be used. Every message names the file and
/// says what went wrong in full (the variants have no `source`, so a chain
/// of causes does not repeat it).
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The data directory does not exist and cannot be created.
    #[error(
        "cannot create the data directory {}: {error}; point --data-dir at a directory this user can write",
        dir.display()
    )]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// The file exists but cannot be read.
    #[error("cannot read {}: {error}; {WAY_OUT}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// The file does not parse: empty, cut short by a crash or a full disk,
    /// or not written by herd.
    #[error("{} is not a herd members file ({error}); {WAY_OUT}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The error.
        error: serde_json::Error,
    },
    /// The file belongs to another cluster or another node.
    #[error(
        "{} belongs to node {file_node:?} of cluster {file_cluster:?}, not to node {node:?} of cluster {cluster:?}; {WAY_OUT}",
        path.display()
    )]
    Foreign {
        /// The file.
        path: PathBuf,
        /// The cluster the file names.
        file_cluster: String,
        /// The node the file names.
        file_node: String,
        /// This agent's cluster.
        cluster: String,
        /// This agent's node.
        node: String,
    },
    /// Writing the file failed at one of its steps.
    #[error("cannot write {} ({step}): {error}", path.display())]
    Write {
        /// The file being replaced.
        path: PathBuf,
        /// Which step failed: the temporary file, its sync, the rename, the
        /// directory's sync.
        step: &'static str,
        /// The error.
        error: std::io::Error,
    },
}

/// Creates the data directory if needed.
pub(super) fn create(dir: &Path) -> Result<(), MemoryError> {
    std::fs::create_dir_all(dir).map_err(|error| MemoryError::CreateDir {
        dir: dir.to_owned(),
        error,
    })
}

/// Reads the remembered members and term. A missing file is an empty
/// memory. A file that cannot be read, does not parse (an empty or
/// truncated file included) or belongs to another cluster or node is an
/// error: the agent must not start as if it remembered nothing, or it would
/// found a cluster of its own and claim the primary role alone.
pub(super) fn load(dir: &Path, cluster: &str, node: &str) -> Result<Recalled, MemoryError> {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Recalled::default()),
        Err(error) => return Err(MemoryError::Read { path, error }),
    };
    let memory = serde_json::from_str::<Remembered>(&text).map_err(|error| MemoryError::Parse {
        path: path.clone(),
        error,
    })?;
    if memory.cluster != cluster || memory.node != node {
        return Err(MemoryError::Foreign {
            path,
            file_cluster: memory.cluster,
            file_node: memory.node,
            cluster: cluster.to_owned(),
            node: node.to_owned(),
        });
    }
    Ok(Recalled {
        members: memory
            .members
            .into_iter()
            .map(|m| (m.name, m.addr))
            .collect(),
        term: memory.term,
    })
}

/// Writes the members and term durably: to a temporary file in the same
/// directory, synced, renamed over the file, then the directory synced, so
/// a crash or power loss leaves either the old file or the new one whole.
pub(super) fn save(
    dir: &Path,
    cluster: &str,
    node: &str,
    members: &[(String, SocketAddr)],
    term: u64,
) -> Result<PathBuf, MemoryError> {
    let memory = Remembered {
        cluster: cluster.to_owned(),
        node: node.to_owned(),
        members: members
            .iter()
            .map(|(name, addr)| RememberedMember {
                name: name.clone(),
                addr: *addr,
            })
            .collect(),
        term,
    };
    let path = dir.join(FILE);
    let partial = dir.join(format!("{FILE}.partial"));
    let fail = |step: &'static str| {
        let path = path.clone();
        move |error: std::io::Error| MemoryError::Write { path, step, error }
    };
    let text = serde_json::to_string_pretty(&memory)
        .map_err(std::io::Error::other)
        .map_err(fail("encoding"))?;
    let written = std::fs::File::create(&partial)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .map_err(fail("writing the temporary file"));
    if let Err(err) = written {
        // A full disk: give back what the partial file took.
        let _ = std::fs::remove_file(&partial);
        return Err(err);
    }
    std::fs::rename(&partial, &path).map_err(fail("renaming the temporary file over it"))?;
    // The rename is durable only once the directory entry is.
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(fail("syncing the directory"))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("herd-memory-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn members_round_trip_for_the_same_cluster_and_node() {
        let dir = dir("round-trip");
        let members = vec![
            ("a".to_owned(), "10.0.0.1:7946".parse().unwrap()),
            ("b".to_owned(), "10.0.0.2:7946".parse().unwrap()),
        ];
        save(&dir, "prod", "c", &members, 7).unwrap();
        let recalled = load(&dir, "prod", "c").unwrap();
        assert_eq!((recalled.members, recalled.term), (members, 7));
        assert!(!dir.join("members.json.partial").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_of_another_cluster_or_node_is_an_error_naming_the_file() {
        let dir = dir("foreign");
        save(&dir, "prod", "c", &[], 3).unwrap();
        for (cluster, node) in [("test", "c"), ("prod", "other")] {
            let err = load(&dir, cluster, node).unwrap_err();
            assert!(matches!(err, MemoryError::Foreign { .. }), "{err:?}");
            let message = err.to_string();
            assert!(message.contains("members.json"), "{message}");
            assert!(message.contains("\"prod\""), "{message}");
            assert!(message.contains("remove it"), "{message}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_empty_or_truncated_file_is_an_error_naming_the_file() {
        let dir = dir("truncated");
        save(
            &dir,
            "prod",
            "c",
            &[("a".to_owned(), "10.0.0.1:7946".parse().unwrap())],
            1,
        )
        .unwrap();
        let whole = std::fs::read_to_string(dir.join(FILE)).unwrap();
        for text in ["", &whole[..whole.len() / 2], "{not json"] {
            std::fs::write(dir.join(FILE), text).unwrap();
            let err = load(&dir, "prod", "c").unwrap_err();
            assert!(
                matches!(err, MemoryError::Parse { .. }),
                "{text:?}: {err:?}"
            );
            assert!(err.to_string().contains(&*dir.join(FILE).to_string_lossy()));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_that_cannot_be_read_is_an_error() {
        let dir = dir("unreadable");
        // A directory where the file should be: reading fails for root too.
        std::fs::create_dir(dir.join(FILE)).unwrap();
        let err = load(&dir, "prod", "c").unwrap_err();
        assert!(matches!(err, MemoryError::Read { .. }), "{err:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn no_file_is_an_empty_memory() {
        let dir = dir("empty");
        assert_eq!(load(&dir, "prod", "c").unwrap(), Recalled::default());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_data_dir_under_a_regular_file_cannot_be_created_or_written() {
        let dir = dir("under-file");
        let file = dir.join("plain");
        std::fs::write(&file, "").unwrap();
        let inside = file.join("data");
        assert!(matches!(
            create(&inside),
            Err(MemoryError::CreateDir { .. })
        ));
        let err = save(&inside, "prod", "c", &[], 1).unwrap_err();
        assert!(matches!(err, MemoryError::Write { .. }), "{err:?}");
        assert!(err.to_string().contains("members.json"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_from_before_terms_reads_as_term_zero() {
        let dir = dir("old-file");
        let old =
            r#"{"cluster":"prod","node":"c","members":[{"name":"a","addr":"10.0.0.1:7946"}]}"#;
        std::fs::write(dir.join(FILE), old).unwrap();
        let recalled = load(&dir, "prod", "c").unwrap();
        assert_eq!((recalled.members.len(), recalled.term), (1, 0));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
