//! The model update pass (upstream `update_models` + `sync_model`), run after every sync.
//!
//! For each uid with a commitment, in upstream's order: parse the commitment → find its
//! competition *at the commitment block* → skip competitions no longer scheduled (before any
//! download) → wait out the eval delay → skip if unchanged and not due a retry → download,
//! verify and check (the `hub` crate) → queue it for its competition's next round. The pass
//! respects the cap on queued models, except for top miners found in other validators' weights.

use super::{metrics, SubnetView, Validator};
use crate::model_tracker::{EvalResult, ModelMetadata, ModelStatus};
use scoring::{Block, ModelId};
use std::collections::BTreeSet;

/// `CompetitionId.NONE`: where upstream files the `inf` result of a misconfigured model.
const NO_COMPETITION: i64 = 0;

/// What happened to one uid in a pass.
#[derive(Debug, PartialEq)]
enum Step {
    Queued,
    Unchanged,
    NotReady,
    Rejected,
    Deferred,
}

impl Validator {
    /// One pass over every uid of `view`.
    pub async fn update_models(&self, view: &SubnetView) {
        self.note_hotkeys(view);
        let head = view.block.number;
        let top = self.top_miners(view).await;
        let mut queued = 0;
        for neuron in &view.metagraph.neurons {
            if self.cancel.is_cancelled() {
                return;
            }
            let is_top = top.contains(&neuron.uid);
            let full = {
                let inner = self.inner.lock().expect("state lock");
                inner.sets.total() >= self.schedule.rules.updated_models_limit
            };
            if full && !is_top {
                continue;
            }
            if self.sync_uid(view, neuron.uid, head, is_top).await == Step::Queued {
                queued += 1;
            }
        }
        if queued > 0 {
            tracing::info!(queued, "models queued for evaluation");
            if let Err(e) = self.save_state() {
                tracing::error!("saving state: {e:#}");
            }
        }
    }

    /// Forgets what belonged to the previous holder of a uid, and hotkeys that left.
    fn note_hotkeys(&self, view: &SubnetView) {
        let mut inner = self.inner.lock().expect("state lock");
        let current: BTreeSet<String> = view.metagraph.neurons.iter().map(|n| n.hotkey.to_ss58()).collect();
        for n in &view.metagraph.neurons {
            let hk = n.hotkey.to_ss58();
            if let Some(old) = inner.hotkey_at_uid.insert(n.uid, hk.clone()) {
                if old != hk {
                    tracing::info!(uid = n.uid, old = %old, new = %hk, "uid changed hands");
                    inner.sets.remove_uid(n.uid);
                }
            }
        }
        inner.models.retain_hotkeys(&current);
    }

    /// uids that hold at least `--top-miners.min-percent` of a well-staked validator's weights.
    async fn top_miners(&self, view: &SubnetView) -> BTreeSet<u16> {
        let rows = match self.chain.weights(self.args.netuid, &view.block).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::debug!("cannot read validators' weights for the top-miner scan: {e}");
                return BTreeSet::new();
            }
        };
        let mut top = BTreeSet::new();
        for (validator_uid, row) in rows {
            let Some(v) = view.metagraph.neuron(validator_uid) else { continue };
            if !v.validator_permit || v.stake_tao < self.args.top_miners_min_stake {
                continue;
            }
            let total: u64 = row.iter().map(|(_, w)| *w as u64).sum();
            let threshold = self.args.top_miners_min_fraction * total as f64;
            top.extend(row.iter().filter(|(_, w)| total > 0 && *w as f64 >= threshold).map(|(uid, _)| *uid));
        }
        top
    }

    fn set_status(&self, hotkey: &str, status: ModelStatus) {
        self.inner.lock().expect("state lock").models.set_status(hotkey, status);
    }

    fn reject(&self, hotkey: &str, uid: u16, reason: String, retry: bool, head: Block) -> Step {
        let mut inner = self.inner.lock().expect("state lock");
        let repeated =
            matches!(inner.models.status(hotkey), Some(ModelStatus::Rejected { reason: r, .. }) if *r == reason);
        if repeated {
            tracing::debug!(uid, hotkey, retry, "miner still not evaluated: {reason}");
        } else {
            tracing::info!(uid, hotkey, retry, "miner not evaluated: {reason}");
        }
        inner.models.set_status(hotkey, ModelStatus::Rejected { reason, retry, block: head });
        Step::Rejected
    }

    /// Remembers a failed fetch so that the same commitment is not fetched again before
    /// `--sync.recheck` has passed.
    fn note_failure(&self, uid: u16, metadata: &ModelMetadata) {
        self.inner
            .lock()
            .expect("state lock")
            .failed_attempt
            .insert(uid, (metadata.clone(), std::time::Instant::now()));
    }

    async fn sync_uid(&self, view: &SubnetView, uid: u16, head: Block, is_top: bool) -> Step {
        let Some(neuron) = view.metagraph.neuron(uid) else { return Step::NotReady };
        let hotkey = neuron.hotkey.to_ss58();
        let Some(commitment) = view.commitments.get(&neuron.hotkey) else { return Step::NotReady };
        let text = match commitment.text() {
            Ok(t) => t.to_string(),
            Err(e) => return self.reject(&hotkey, uid, format!("commitment is not text: {e}"), false, head),
        };
        let id = match ModelId::parse(&text) {
            Ok(id) => id,
            Err(e) => return self.reject(&hotkey, uid, format!("malformed commitment {text:?}: {e}"), false, head),
        };
        let metadata = ModelMetadata { id: id.clone(), block: commitment.block };
        {
            let inner = self.inner.lock().expect("state lock");
            let recheck = std::time::Duration::from_secs(self.args.recheck_secs);
            if let Some((failed, at)) = inner.failed_attempt.get(&uid) {
                if *failed == metadata && at.elapsed() < recheck {
                    return Step::Deferred;
                }
            }
        }
        let Some(competition) = self.schedule.competition_at(id.competition_id, metadata.block) else {
            let reason = format!("no competition {} at the commitment block {}", id.competition_id, metadata.block);
            return self.reject(&hotkey, uid, reason, false, head);
        };
        let active = self.schedule.competitions_at(head).map(|cs| cs.iter().any(|c| c.id == competition.id));
        if !active.unwrap_or(false) {
            let reason = format!("competition {} is no longer scheduled", competition.id);
            return self.reject(&hotkey, uid, reason, false, head);
        }
        let eligible_at = metadata.block + competition.constraints.eval_block_delay;
        if head < eligible_at {
            self.set_status(&hotkey, ModelStatus::Waiting { eligible_at });
            return Step::NotReady;
        }
        {
            let mut inner = self.inner.lock().expect("state lock");
            let unchanged = inner.models.metadata(&hotkey) == Some(&metadata);
            if unchanged {
                let queued = inner.sets.contains(uid);
                let retry = !queued
                    && inner.models.should_retry(&hotkey, competition.id, &competition.constraints.epsilon, head)
                    && matches!(inner.models.status(&hotkey), Some(ModelStatus::Ready { .. }));
                let top_due = is_top
                    && !queued
                    && inner.top_retry_block.get(&uid).is_none_or(|&b| head.saturating_sub(b) >= 1200);
                if !(retry || top_due) {
                    return Step::Unchanged;
                }
                if top_due {
                    inner.top_retry_block.insert(uid, head);
                }
            }
        }
        self.fetch_and_queue(&hotkey, uid, &metadata, competition, head).await
    }

    async fn fetch_and_queue(
        &self,
        hotkey: &str,
        uid: u16,
        metadata: &ModelMetadata,
        competition: &scoring::Competition,
        head: Block,
    ) -> Step {
        let eviction_order = self.eviction_order();
        match self.hub.fetch(hotkey, &metadata.id, &competition.constraints, &eviction_order).await {
            Ok(stored) => {
                metrics::download(
                    if stored.downloaded_bytes > 0 { "downloaded" } else { "reused" },
                    stored.downloaded_bytes,
                );
                let mut inner = self.inner.lock().expect("state lock");
                inner.models.on_model_updated(hotkey, metadata.clone());
                inner.models.set_status(hotkey, ModelStatus::Ready { competition_id: competition.id });
                inner.sets.add_pending(competition.id, uid);
                tracing::info!(uid, hotkey, repo = %metadata.id.repo_id(), competition = competition.id, "model verified and queued");
                Step::Queued
            }
            Err(e) if e.is_transient() => {
                self.note_failure(uid, metadata);
                metrics::download("failed", 0);
                tracing::warn!(uid, "download failed, will retry: {e}");
                self.set_status(
                    hotkey,
                    ModelStatus::Rejected { reason: e.failure.to_string(), retry: true, block: head },
                );
                Step::Deferred
            }
            Err(e) => {
                self.note_failure(uid, metadata);
                metrics::download("rejected", 0);
                if e.dir_hash.is_some() {
                    // Upstream records the model once its files arrived, even when a later check
                    // fails: it is not downloaded again until the miner commits something new.
                    let mut inner = self.inner.lock().expect("state lock");
                    inner.models.on_model_updated(hotkey, metadata.clone());
                    let failed = EvalResult {
                        block: head,
                        score: f64::INFINITY,
                        winning_model_block: head,
                        winning_model_score: f64::INFINITY,
                    };
                    inner.models.on_model_evaluated(hotkey, NO_COMPETITION, failed);
                }
                self.reject(hotkey, uid, e.failure.to_string(), e.dir_hash.is_none(), head)
            }
        }
    }

    /// Stored models from least to most valuable: unreferenced first, then by tracked weight.
    fn eviction_order(&self) -> Vec<hub::ModelKey> {
        let inner = self.inner.lock().expect("state lock");
        let Some(view) = self.current_view() else { return vec![] };
        let kept = inner.sets.all_uids();
        let mut ranked: Vec<(bool, f64, hub::ModelKey)> = view
            .metagraph
            .neurons
            .iter()
            .filter_map(|n| {
                let hk = n.hotkey.to_ss58();
                let md = inner.models.metadata(&hk)?;
                let key = hub::ModelKey::new(&hk, &md.id).ok()?;
                let weight = inner
                    .tracker
                    .competition_weights(md.id.competition_id)
                    .and_then(|w| w.get(n.uid as usize).copied())
                    .unwrap_or(0.0);
                Some((kept.contains(&n.uid), weight, key))
            })
            .collect();
        ranked.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        ranked.into_iter().map(|(_, _, k)| k).collect()
    }
}
