//! What an operator or the driver asks of the node ([`Command`]): seeds,
//! check results, drain and resume, leave, forget, eligibility.

use super::*;

impl Node {
    /// Handles a command; a refused command changes nothing.
    pub fn handle_command(&mut self, now: Time, command: Command) -> Result<(), CommandError> {
        self.check_stall(now);
        let result = match command {
            Command::Seeds(seeds) => {
                self.set_seeds(now, seeds);
                Ok(())
            }
            Command::SetHealth { status, checks } => {
                // Only a change of state is news for the cluster; outputs
                // alone change with every run and would flood the gossip.
                let states =
                    |checks: &[CheckSummary]| -> Vec<(String, crate::core::health::CheckStatus)> {
                        checks.iter().map(|c| (c.name.clone(), c.status)).collect()
                    };
                if self.local_checks != checks {
                    self.changes += 1;
                }
                if self.record.status != status || states(&self.record.checks) != states(&checks) {
                    self.record.status = status;
                    self.record.checks = checks
                        .iter()
                        .take(crate::core::health::MAX_CHECKS)
                        .map(|c| CheckSummary::new(&c.name, c.status, &c.output))
                        .collect();
                    self.publish_record(now);
                }
                self.local_checks = checks;
                Ok(())
            }
            Command::Drain if self.phase == Phase::Left => Err(CommandError::Leaving),
            Command::Drain => {
                if !self.record.draining {
                    self.record.draining = true;
                    self.publish_record(now);
                }
                Ok(())
            }
            Command::Resume if self.record.leaving || self.phase == Phase::Left => {
                Err(CommandError::Leaving)
            }
            Command::Resume => {
                if self.record.draining {
                    self.record.draining = false;
                    self.publish_record(now);
                }
                Ok(())
            }
            Command::Leave => {
                self.leave(now);
                Ok(())
            }
            Command::Forget(name) => self.forget(now, &name),
            Command::SetEligible(eligible) => {
                if self.record.eligible != eligible {
                    self.record.eligible = eligible;
                    self.publish_record(now);
                }
                Ok(())
            }
            Command::SetKeyring(keyring) => self.set_keyring(keyring),
        };
        self.settle(now);
        result
    }

    /// Takes a new keyring; refused, changing nothing, when its settings do
    /// not fit together.
    fn set_keyring(&mut self, keyring: crate::core::Keyring) -> Result<(), CommandError> {
        keyring.check()?;
        if keyring.keys.is_empty() {
            self.rt.sealer = None;
        } else if let Some(sealer) = &mut self.rt.sealer {
            sealer.rekey(&keyring);
        } else {
            self.rt.sealer = Some(Sealer::new(&keyring));
        }
        tracing::info!(
            keys = keyring.keys.len(),
            seal = keyring.seal,
            require = keyring.require,
            "keyring changed"
        );
        self.cfg.keyring = keyring;
        Ok(())
    }

    /// Marks a down member as left, for every member: a record in its name
    /// saying it is leaving, one version newer than the last one seen. A
    /// later life of the member (a restart) outranks it.
    pub(super) fn forget(&mut self, now: Time, name: &str) -> Result<(), CommandError> {
        if name == &*self.record.name {
            return Err(CommandError::ForgetSelf);
        }
        if self.phase == Phase::Left {
            return Err(CommandError::Leaving);
        }
        let Some(record) = self.members.forget(name)? else {
            return Ok(());
        };
        tracing::info!(member = name, "forgetting a member that is down");
        match codec::encode_record(&record) {
            Ok(bytes) => {
                self.members.offer(record);
                self.news_possible = true;
                if let Err(err) = self.foca.add_broadcast(&bytes) {
                    tracing::warn!(error = err.to_string().as_str(), "could not queue a forget");
                }
            }
            Err(err) => tracing::warn!(
                error = err.to_string().as_str(),
                "could not encode a forget"
            ),
        }
        self.settle(now);
        Ok(())
    }
}
