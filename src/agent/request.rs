//! The command channel into the gossip task.
//!
//! A leaf module of its own because three parts send commands to the node:
//! the checks, the seed resolver and the HTTP admin routes. Living here
//! rather than in `agent/mod.rs` lets `http` and `agent::checks` name it
//! without depending on the module that starts them.

use tokio::sync::oneshot;

use crate::core::{Command, CommandError};

/// A command for the node, with where to send its answer.
#[derive(Debug)]
pub struct Request {
    /// The command.
    pub command: Command,
    /// Where the outcome goes, if anyone waits for it.
    pub reply: Option<oneshot::Sender<Result<(), CommandError>>>,
}

impl Request {
    /// A command nobody waits on.
    pub fn fire(command: Command) -> Self {
        Self {
            command,
            reply: None,
        }
    }

    /// A command and the receiver of its outcome.
    pub fn ask(command: Command) -> (Self, oneshot::Receiver<Result<(), CommandError>>) {
        let (reply, answer) = oneshot::channel();
        (
            Self {
                command,
                reply: Some(reply),
            },
            answer,
        )
    }
}
