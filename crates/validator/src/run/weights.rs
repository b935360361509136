//! Setting weights on chain: the subnet weights as u16 (bittensor's conversion, in `scoring`),
//! on the `--weights.interval` cadence, within the chain's rate limit, with a deadline, in the
//! mode the chain requires (a plain `set_weights`, a drand-timelocked commit the chain reveals
//! by itself, or a hash commit we reveal in its epoch), and the chain's verdict logged by name.
//!
//! Hash commits are persisted (`pending_reveals.json`) the moment the chain accepts them, and
//! every later call reveals those that are due, so a restart never loses weights.

use super::{metrics, Validator};
use crate::state::StatePart;
use crate::step_record::VtrustSummary;
use chain::agreement::estimate_at_head;
use chain::{AccountId, RevealOutcome, Submitted, WeightsSubmission};
use scoring::emit::to_u16_weights;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use weights_commit::PendingReveal;

/// Hash commits waiting for their reveal epoch.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PendingReveals(pub Vec<PendingReveal>);

impl StatePart for PendingReveals {
    const FILE: &'static str = "pending_reveals.json";
    const VERSION: u32 = 1;
}

impl Validator {
    /// `(competition id, reward share)` of the competitions scheduled at `block`.
    pub(crate) fn reward_shares(&self, block: u64) -> anyhow::Result<Vec<(i64, f64)>> {
        Ok(self.schedule.competitions_at(block)?.iter().map(|c| (c.id, c.reward_percentage)).collect())
    }

    /// The subnet weights at `block`: each competition's averaged weights times its share.
    pub(crate) fn subnet_weights(&self, block: u64) -> anyhow::Result<Vec<f64>> {
        let shares = self.reward_shares(block)?;
        Ok(self.inner.lock().expect("state lock").tracker.subnet_weights(&shares, &self.schedule.rules.tracker))
    }

    /// The current subnet weights as the chain will take them: `(uid, u16)` pairs, or `None`
    /// while there is nothing to set.
    fn weights_row(&self, head: u64) -> Option<(Vec<u16>, Vec<u16>)> {
        let weights = self.subnet_weights(head).ok()?;
        if weights.iter().all(|w| *w == 0.0) {
            return None;
        }
        let uids: Vec<i64> = (0..weights.len() as i64).collect();
        match to_u16_weights(&uids, &weights) {
            Ok(row) => Some(row),
            Err(e) => {
                tracing::error!("cannot convert weights for the chain: {e}");
                None
            }
        }
    }

    /// Submits the current subnet weights when due (`force` ignores our own cadence, not the
    /// chain's rate limit), and reveals hash commits that are due. Never fails the caller: every
    /// outcome is logged, and what was submitted waits in `unrecorded_submissions` for the step
    /// record.
    pub async fn set_weights(&self, force: bool) {
        if self.args.offline {
            return;
        }
        let _one_at_a_time = self.weights_lock.lock().await;
        self.reveal_due().await;
        let head = match self.chain.head().await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!("cannot read the head to set weights: {e}");
                return;
            }
        };
        let last = self.inner.lock().expect("state lock").progress.last_weights_block;
        if !force && last.is_some_and(|b| head.number.saturating_sub(b) < self.args.weights_interval_blocks) {
            return;
        }
        let Some((uids, values)) = self.weights_row(head.number) else {
            tracing::info!("no weights to set yet");
            return;
        };
        let hyper = match self.chain.hyperparameters(self.args.netuid, &head).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!("cannot read hyperparameters to set weights: {e}");
                return;
            }
        };
        if let Some(last) = last {
            let since = head.number.saturating_sub(last);
            if since < hyper.weights_rate_limit {
                tracing::debug!(
                    since,
                    limit = hyper.weights_rate_limit,
                    "weights set recently: waiting for the rate limit"
                );
                return;
            }
        }
        let submission = WeightsSubmission { uids, weights: values, version_key: hyper.weights_version_key };
        let started = Instant::now();
        let deadline = Duration::from_secs(self.args.chain.timeout_secs.max(1) * 2);
        let result = tokio::time::timeout(deadline, self.chain.submit_weights(self.args.netuid, &submission)).await;
        metrics::chain_call("submit_weights", started.elapsed().as_secs_f64());
        match result {
            Ok(Ok(submitted)) => {
                let block = submitted.included().block.number;
                match &submitted {
                    Submitted::Set { .. } => tracing::info!(block, uids = submission.uids.len(), "weights set"),
                    Submitted::CommittedTimelocked { commit, .. } => tracing::info!(
                        block,
                        reveal_round = commit.plan.reveal_round,
                        reveal_epoch = commit.plan.reveal_epoch,
                        payload_sha256 = %commit.payload_sha256,
                        "weights committed (timelocked); the chain reveals them"
                    ),
                    Submitted::CommittedHash { pending, .. } => {
                        tracing::info!(
                            block,
                            reveal_epoch = pending.reveal_epoch,
                            "weights committed (hash); we reveal them"
                        );
                        let mut inner = self.inner.lock().expect("state lock");
                        inner.pending_reveals.0.push(pending.clone());
                    }
                }
                metrics::weights_set(submitted.kind());
                {
                    let mut inner = self.inner.lock().expect("state lock");
                    inner.progress.last_weights_block = Some(head.number);
                    inner.unrecorded_submissions.push(submitted.clone());
                }
                if let Err(e) = self.save_state() {
                    tracing::error!("saving state: {e:#}");
                }
            }
            Ok(Err(e)) => {
                let name = e.dispatch_error_name().unwrap_or("refused").to_string();
                tracing::warn!(reason = %name, "weights not set: {e}");
                metrics::weights_set(&name);
            }
            Err(_) => {
                tracing::warn!("weights not set: no answer within {} s", deadline.as_secs());
                metrics::weights_set("timeout");
            }
        }
    }

    /// Reveals the hash commits whose epoch has come; drops those revealed or expired.
    async fn reveal_due(&self) {
        let pending = self.inner.lock().expect("state lock").pending_reveals.0.clone();
        if pending.is_empty() {
            return;
        }
        let waiting = pending.len();
        let mut keep = Vec::new();
        for p in pending {
            match self.chain.reveal_pending(&p).await {
                Ok(RevealOutcome::NotYet { .. }) => keep.push(p),
                Ok(RevealOutcome::Revealed { included }) => {
                    tracing::info!(block = included.block.number, commit_block = p.commit_block, "weights revealed");
                    metrics::weights_set("revealed");
                }
                Ok(RevealOutcome::Expired { reveal_epoch, current_epoch }) => {
                    tracing::warn!(reveal_epoch, current_epoch, "a hash commit expired before it could be revealed");
                    metrics::weights_set("reveal_expired");
                }
                Err(e) => {
                    tracing::warn!("reveal failed, will retry: {e}");
                    keep.push(p);
                }
            }
        }
        // Most calls find every commit still waiting: then there is nothing new to persist.
        let changed = keep.len() != waiting;
        self.inner.lock().expect("state lock").pending_reveals.0 = keep;
        if changed {
            if let Err(e) = self.save_state() {
                tracing::error!("saving state: {e:#}");
            }
        }
    }

    /// Our validator trust now, and for the weights we are about to set (none without a hotkey).
    pub async fn vtrust(&self) -> Option<VtrustSummary> {
        let hotkey = self.own_hotkey.as_deref()?;
        let account: AccountId = hotkey.parse().ok()?;
        let head = self.chain.head().await.ok()?;
        let row: Option<Vec<(u16, u16)>> = self.weights_row(head.number).map(|(u, w)| u.into_iter().zip(w).collect());
        match estimate_at_head(self.chain.as_ref(), self.args.netuid, &account, row.as_deref()).await {
            Ok(e) => {
                metrics::vtrust(&e);
                Some(VtrustSummary {
                    set: e.set,
                    about_to_set: e.about_to_set,
                    about_to_set_in_place: e.about_to_set_in_place,
                    chain_stored: e.chain_stored,
                })
            }
            Err(e) => {
                tracing::debug!("no vtrust estimate: {e}");
                None
            }
        }
    }
}
