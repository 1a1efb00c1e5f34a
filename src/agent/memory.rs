//! What an agent started with `--data-dir` remembers across restarts: the
//! members it last knew, so it can rejoin them with no seeds given (a node
//! with remembered members never founds a cluster of its own), and the
//! highest primary term it saw, so terms keep rising even when the whole
//! cluster restarts.

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
pub fn members_of(snapshot: &Snapshot) -> Vec<(String, SocketAddr)> {
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
pub struct Recalled {
    /// The remembered members, by name.
    pub members: Vec<(String, SocketAddr)>,
    /// The highest primary term seen.
    pub term: u64,
}

/// Reads the remembered members and term. A missing file is an empty
/// memory; a file of another cluster or node, or one that does not parse,
/// is ignored with a warning (the agent then needs `--join`).
pub fn load(dir: &Path, cluster: &str, node: &str) -> Recalled {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Recalled::default(),
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "cannot read remembered members");
            return Recalled::default();
        }
    };
    match serde_json::from_str::<Remembered>(&text) {
        Ok(memory) if memory.cluster == cluster && memory.node == node => Recalled {
            members: memory
                .members
                .into_iter()
                .map(|m| (m.name, m.addr))
                .collect(),
            term: memory.term,
        },
        Ok(memory) => {
            tracing::warn!(
                path = %path.display(),
                cluster = %memory.cluster,
                node = %memory.node,
                "remembered members belong to another cluster or node; ignored"
            );
            Recalled::default()
        }
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "remembered members do not parse; ignored");
            Recalled::default()
        }
    }
}

/// Writes the members and term, replacing the file atomically (write, then
/// rename).
pub fn save(
    dir: &Path,
    cluster: &str,
    node: &str,
    members: &[(String, SocketAddr)],
    term: u64,
) -> std::io::Result<PathBuf> {
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
    let text = serde_json::to_string_pretty(&memory).map_err(std::io::Error::other)?;
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, &path)?;
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
        let recalled = load(&dir, "prod", "c");
        assert_eq!((recalled.members.len(), recalled.term), (2, 7));
        assert_eq!(load(&dir, "test", "c"), Recalled::default());
        assert_eq!(load(&dir, "prod", "other"), Recalled::default());
        std::fs::write(dir.join(FILE), "{not json").unwrap();
        assert_eq!(load(&dir, "prod", "c"), Recalled::default());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn no_file_is_an_empty_memory() {
        let dir = dir("empty");
        assert_eq!(load(&dir, "prod", "c"), Recalled::default());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_from_before_terms_reads_as_term_zero() {
        let dir = dir("old-file");
        let old =
            r#"{"cluster":"prod","node":"c","members":[{"name":"a","addr":"10.0.0.1:7946"}]}"#;
        std::fs::write(dir.join(FILE), old).unwrap();
        let recalled = load(&dir, "prod", "c");
        assert_eq!((recalled.members.len(), recalled.term), (1, 0));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
