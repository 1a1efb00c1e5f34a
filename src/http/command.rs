//! The command channel into the gossip task.
//!
//! Three parts send commands to the node: the admin routes here, and the
//! agent's checks and seed resolver. The type lives in the HTTP layer, in a
//! leaf of its own, because the agent sits above that layer (it starts the
//! servers): here both can name it without a circle, and the checks need
//! not depend on the router.

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
