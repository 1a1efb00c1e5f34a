//! The recent events of this node, for `/v1/events` and the status page.
//!
//! The log lines say the same, but an operator looking at one agent's page
//! wants the last minutes of membership and role changes without reaching
//! for the host's journal. The gossip task records each event it publishes
//! (with the wall-clock time: the page shows it to a human); the HTTP
//! handlers read a copy. A bounded ring: old events fall off, the memory
//! is fixed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::core::{Event, MemberState};

/// How many events `/v1/events` keeps.
pub const KEPT: usize = 200;

/// One event, as `/v1/events` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EventJson {
    /// Its number in this agent's life, from 1: a gap says events fell off.
    pub seq: u64,
    /// When it happened, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `joined`, `left`, `rejoined`, `member_state`, `member_health`,
    /// `member_reaped`, `primary_changed` or `role_changed`.
    pub kind: &'static str,
    /// What happened, in words.
    pub text: String,
    /// The member it is about, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// The member's new state, or the new health.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The member's state before, or the primary before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// The term a role change is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
}

/// The shared ring of recent events.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    inner: Arc<Mutex<Ring>>,
}

#[derive(Debug, Default)]
struct Ring {
    next: u64,
    events: VecDeque<EventJson>,
}

impl EventLog {
    /// Records `event`, which happened at `at_ms`. Events nobody reads on a
    /// page (a refused join attempt) are skipped.
    pub fn record(&self, at_ms: u64, event: &Event) {
        let Some(mut entry) = describe(event) else {
            return;
        };
        // A poisoned lock only means a reader panicked mid-copy; the ring
        // itself is always whole.
        let mut ring = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ring.next += 1;
        entry.seq = ring.next;
        entry.at_ms = at_ms;
        if ring.events.len() == KEPT {
            ring.events.pop_front();
        }
        ring.events.push_back(entry);
    }

    /// The events kept, oldest first.
    pub fn recent(&self) -> Vec<EventJson> {
        let ring = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ring.events.iter().cloned().collect()
    }
}

fn entry(kind: &'static str, text: String) -> EventJson {
    EventJson {
        seq: 0,
        at_ms: 0,
        kind,
        text,
        member: None,
        state: None,
        previous: None,
        term: None,
    }
}

fn describe(event: &Event) -> Option<EventJson> {
    Some(match event {
        Event::Joined { via: Some(via) } => {
            entry("joined", format!("joined the cluster via {via}"))
        }
        Event::Joined { via: None } => entry("joined", "founded a new cluster".into()),
        Event::JoinRefused { .. } => return None,
        Event::Rejoined { incarnation, .. } => entry(
            "rejoined",
            format!(
                "the cluster had declared this node down; rejoined (incarnation {incarnation})"
            ),
        ),
        Event::Left => entry("left", "left the cluster".into()),
        Event::MemberState {
            name,
            previous,
            current,
            ..
        } => {
            let text = match (previous, current) {
                (None, _) => format!("{name} joined ({current})"),
                (Some(MemberState::Suspect), MemberState::Alive) => {
                    format!("{name} refuted a suspicion")
                }
                (Some(_), MemberState::Suspect) => format!("{name} is suspected"),
                (Some(previous), current) => format!("{name} is {current} (was {previous})"),
            };
            EventJson {
                member: Some(name.to_string()),
                state: Some(current.to_string()),
                previous: previous.map(|state| state.to_string()),
                ..entry("member_state", text)
            }
        }
        Event::MemberReaped { name } => EventJson {
            member: Some(name.to_string()),
            ..entry("member_reaped", format!("{name} forgotten"))
        },
        Event::MemberHealth { name, status } => EventJson {
            member: Some(name.to_string()),
            state: Some(status.to_string()),
            ..entry("member_health", format!("{name} health {status}"))
        },
        Event::PrimaryChanged { previous, current } => {
            let text = match (previous, current) {
                (_, Some(current)) => format!(
                    "primary is {current} (was {})",
                    previous.as_deref().unwrap_or("none")
                ),
                (Some(previous), None) => format!("no primary (was {previous})"),
                (None, None) => "no primary".into(),
            };
            EventJson {
                member: current.as_deref().map(str::to_owned),
                previous: previous.as_deref().map(str::to_owned),
                ..entry("primary_changed", text)
            }
        }
        Event::RoleChanged { claiming, term } => EventJson {
            term: Some(*term),
            ..entry(
                "role_changed",
                if *claiming {
                    format!("this node is now the primary (term {term})")
                } else {
                    format!("this node is no longer the primary (term {term})")
                },
            )
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_and_numbers_every_event() {
        let log = EventLog::default();
        for term in 0..(KEPT as u64 + 5) {
            log.record(
                term,
                &Event::RoleChanged {
                    claiming: true,
                    term,
                },
            );
        }
        log.record(
            1,
            &Event::JoinRefused {
                seed: "127.0.0.1:1".parse().unwrap(),
                reason: crate::core::Refusal::NotJoined,
            },
        );
        let recent = log.recent();
        assert_eq!(recent.len(), KEPT);
        assert_eq!(recent[0].seq, 6, "the five oldest fell off");
        assert_eq!(recent[KEPT - 1].seq, KEPT as u64 + 5);
        assert_eq!(recent[KEPT - 1].term, Some(KEPT as u64 + 4));
        assert_eq!(recent[KEPT - 1].kind, "role_changed");
    }
}
