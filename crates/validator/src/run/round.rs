//! One evaluation round (upstream `run_step`).
//!
//! Pick the competition round-robin; with sync windows, run it once per window and seed its
//! data with the hash of the window's first block (no hash, no round); take the kept and pending
//! uids; load every task (a task that cannot be loaded skips the round); score each model in a
//! worker process; count wins and step weights with the scoring core; fold them into the
//! tracker (not when every model failed); keep the best uids for the next round; save state;
//! append the step record; print the table.

use super::worker::{run_in_worker, Blame, EvalJob, JobTask};
use super::{metrics, SubnetView, Validator};
use crate::model_tracker::{EvalResult, ModelStatus};
use crate::step_record::{ModelRecord, OutcomeRecord, StepRecord, TaskRecord, TaskScore, RECORD_VERSION};
use anyhow::{Context, Result};
use datasets::{Round, Seed, TaskSamples};
use scoring::competition::WinMode;
use scoring::record::{ModelEntry, ScoringRecord};
use scoring::tracker::uids_to_keep;
use scoring::{Block, Competition};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug)]
pub enum RoundOutcome {
    /// A round was scored; its record is written once the weights are submitted.
    Scored(Box<StepRecord>),
    /// This competition already ran in the current window: wait for the next one.
    Wait(Duration),
    /// Nothing to evaluate for this competition.
    Idle,
    /// The round could not be scored for a reason outside the models (no seed, no data).
    Skipped(String),
}

/// A model's result in a round.
struct Scored {
    record: ModelRecord,
    entry: ModelEntry,
}

impl Validator {
    pub async fn run_round(&self) -> Result<RoundOutcome> {
        let started = Instant::now();
        let head = self.chain.head().await.context("reading the chain head")?;
        let competitions = self.schedule.competitions_at(head.number)?;
        let step = self.inner.lock().expect("state lock").progress.global_step;
        let competition = &competitions[(step % competitions.len() as u64) as usize];

        // One round per competition per sync window, seeded by the window's first block.
        let (sync_block, hash) = match self.schedule.rules.sync_blocks {
            Some(grid) => {
                let sync_block = grid.sync_block(head.number);
                let last = self
                    .inner
                    .lock()
                    .expect("state lock")
                    .progress
                    .last_run_by_competition
                    .get(&competition.id)
                    .copied();
                if last == Some(sync_block) {
                    let blocks = grid.next_sync_block(head.number) - head.number;
                    let wait = self.args.block_time().mul_f64(blocks as f64).min(Duration::from_secs(60));
                    tracing::debug!(competition = competition.id, blocks, "already ran in this window");
                    return Ok(RoundOutcome::Wait(wait.max(Duration::from_millis(200))));
                }
                match self.chain.block(sync_block).await {
                    Ok(b) => (sync_block, b.hash.to_string()),
                    Err(e) => {
                        self.advance(competition.id, None);
                        return Ok(RoundOutcome::Skipped(format!("no hash for sync block {sync_block}: {e}")));
                    }
                }
            }
            None => (head.number, head.hash.to_string()),
        };
        let seed = match Seed::from_block_hash(&hash) {
            Ok(s) => s,
            Err(e) => return Ok(RoundOutcome::Skipped(format!("no seed from block hash {hash}: {e}"))),
        };

        let uids = self.inner.lock().expect("state lock").sets.take_round(competition.id);
        if uids.is_empty() {
            self.advance(competition.id, None);
            return Ok(RoundOutcome::Idle);
        }
        let view = self.current_view().context("no metagraph yet")?;
        tracing::info!(competition = %competition.name, block = head.number, sync_block, uids = ?uids, "round starts");

        let data_started = Instant::now();
        let round = Round { seed, sync_block, now: SystemTime::now() };
        let tasks = match datasets::load_round(&competition.eval_tasks, &round, &self.sources).await {
            Ok(t) => t,
            Err(skipped) => {
                self.requeue(competition.id, &uids);
                self.advance(competition.id, Some(sync_block));
                return Ok(RoundOutcome::Skipped(skipped.to_string()));
            }
        };
        let load_data_seconds = data_started.elapsed().as_secs_f64();
        metrics::phase("load_data", load_data_seconds);

        let mut scored = Vec::with_capacity(uids.len());
        let progress = progress_bar(uids.len() as u64, &competition.name);
        for &uid in &uids {
            progress.set_message(format!("uid {uid}"));
            if self.cancel.is_cancelled() {
                self.requeue(competition.id, &uids);
                anyhow::bail!("stopping: round abandoned, its models stay queued");
            }
            let result = self.score_uid(&view, uid, competition, &tasks).await;
            progress.inc(1);
            match result {
                Ok(s) => scored.push(s),
                Err(e) => {
                    self.requeue(competition.id, &uids);
                    return Err(
                        e.context(format!("uid {uid}: the validator could not score it; the round will be retried"))
                    );
                }
            }
        }
        progress.finish_and_clear();
        let record = self.finish_round(RoundParts {
            head: head.number,
            sync_block,
            hash,
            seed,
            competition,
            tasks,
            scored,
            load_data_seconds,
            started,
        })?;
        Ok(RoundOutcome::Scored(Box::new(record)))
    }

    /// Moves to the next competition; `ran_at` marks this window as done for this one.
    fn advance(&self, competition_id: scoring::CompetitionId, ran_at: Option<Block>) {
        let mut inner = self.inner.lock().expect("state lock");
        inner.progress.global_step += 1;
        if let Some(b) = ran_at {
            inner.progress.last_run_by_competition.insert(competition_id, b);
        }
    }

    fn requeue(&self, competition_id: scoring::CompetitionId, uids: &[u16]) {
        let mut inner = self.inner.lock().expect("state lock");
        for &uid in uids {
            inner.sets.add_pending(competition_id, uid);
        }
    }

    async fn score_uid(
        &self,
        view: &SubnetView,
        uid: u16,
        competition: &Competition,
        tasks: &[TaskSamples],
    ) -> Result<Scored> {
        let hotkey = view.hotkey(uid).unwrap_or_default();
        let (metadata, status) = {
            let inner = self.inner.lock().expect("state lock");
            (inner.models.metadata(&hotkey).cloned(), inner.models.status(&hotkey).cloned())
        };
        let n_samples: usize = tasks.iter().map(|t| t.samples.len()).sum();
        let mut record = ModelRecord {
            uid,
            hotkey: hotkey.clone(),
            repo: None,
            commit: None,
            directory_hash: None,
            commit_block: None,
            task_scores: vec![],
            score: f64::INFINITY,
            error: None,
            load_seconds: 0.0,
            eval_seconds: 0.0,
        };
        let per_sample = self.schedule.rules.mode == WinMode::PerSample;
        let failed_entry = |block| ModelEntry {
            uid,
            block,
            losses: per_sample.then(|| vec![f64::INFINITY; n_samples]),
            score: (!per_sample).then_some(f64::INFINITY),
        };
        let ready = matches!(status, Some(ModelStatus::Ready { competition_id }) if competition_id == competition.id);
        let Some(metadata) = metadata.filter(|md| ready && md.id.competition_id == competition.id) else {
            record.error = Some("no verified model for this competition".into());
            return Ok(Scored { record, entry: failed_entry(None) });
        };
        record.repo = Some(metadata.id.repo_id());
        record.commit = metadata.id.commit.clone();
        record.commit_block = Some(metadata.block);
        let key = hub::ModelKey::new(&hotkey, &metadata.id).map_err(|e| anyhow::anyhow!("{e}"))?;
        if !self.hub.store.contains(&key) {
            record.error = Some("the model is no longer on disk; it is downloaded again on the next sync".into());
            self.inner.lock().expect("state lock").models.set_status(
                &hotkey,
                ModelStatus::Rejected { reason: "removed from disk".into(), retry: true, block: metadata.block },
            );
            return Ok(Scored { record, entry: failed_entry(Some(metadata.block)) });
        }
        let lease = self.hub.store.pin(&key);
        let tokenizer_dir = match &competition.constraints.tokenizer {
            Some(name) => Some(self.fixed_tokenizer(name).await?),
            None => Some(self.hub.store.tokenizer_dir(&key)).filter(|d| d.is_dir()),
        };
        let job = EvalJob {
            model_dir: lease.snapshot().to_path_buf(),
            tokenizer_dir,
            device: self.args.device.clone(),
            threads: self.args.threads,
            batch_size: self.args.batch_size,
            sequence_length: competition.constraints.sequence_length,
            tasks: competition
                .eval_tasks
                .iter()
                .zip(tasks)
                .map(|(t, s)| JobTask {
                    name: t.name.clone(),
                    method: t.method,
                    dataset: t.dataset,
                    samples: s.samples.clone(),
                })
                .collect(),
        };
        let deadline = Duration::from_secs(self.args.eval_timeout_secs.max(1));
        let mut output = run_in_worker(&self.worker_exe, &job, deadline).await;
        if output.failure.as_ref().is_some_and(|f| f.blame == Blame::Validator) {
            tracing::warn!(
                uid,
                "evaluation failed on our side, retrying once: {}",
                output.failure.as_ref().map(|f| f.message.as_str()).unwrap_or("")
            );
            output = run_in_worker(&self.worker_exe, &job, deadline).await;
        }
        drop(lease);
        record.load_seconds = output.load_seconds;
        record.eval_seconds = output.eval_seconds;
        metrics::phase("load_model", output.load_seconds);
        metrics::phase("compute_score", output.eval_seconds);
        if let Some(failure) = output.failure {
            if failure.blame == Blame::Validator {
                anyhow::bail!("{}", failure.message);
            }
            tracing::info!(uid, "model scored inf: {}", failure.message);
            record.error = Some(failure.message);
            return Ok(Scored { record, entry: failed_entry(Some(metadata.block)) });
        }
        let raw: Vec<f64> = output.tasks.iter().map(|t| t.raw).collect();
        record.task_scores = competition
            .eval_tasks
            .iter()
            .zip(&raw)
            .map(|(t, &r)| {
                let normalized = t.normalization.apply(r);
                TaskScore { task: t.name.clone(), raw: r, normalized, weighted: t.weight * normalized }
            })
            .collect();
        record.score = competition.combine_task_scores(&raw);
        let entry = ModelEntry {
            uid,
            block: Some(metadata.block),
            losses: per_sample.then(|| output.tasks.iter().flat_map(|t| t.per_sample.iter().copied()).collect()),
            score: (!per_sample).then_some(record.score),
        };
        Ok(Scored { record, entry })
    }

    /// The competition's fixed evaluation tokenizer, fetched once from the hub.
    async fn fixed_tokenizer(&self, name: &str) -> Result<std::path::PathBuf> {
        let dir = self.args.model_dir.join("tokenizers").join(name.replace('/', "--"));
        if dir.join("tokenizer.json").is_file() {
            return Ok(dir);
        }
        let staging = dir.with_extension("partial");
        std::fs::create_dir_all(&staging)?;
        for (file, required) in
            [("tokenizer.json", true), ("tokenizer_config.json", true), ("special_tokens_map.json", false)]
        {
            match self.hub.client.fetch_small(name, "main", file, 64 << 20).await {
                Ok(bytes) => std::fs::write(staging.join(file), bytes)?,
                Err(e) if required => return Err(anyhow::anyhow!("fetching {name}/{file}: {e}")),
                Err(_) => {}
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&staging, &dir)?;
        Ok(dir)
    }

    fn finish_round(&self, parts: RoundParts<'_>) -> Result<StepRecord> {
        let RoundParts { head, sync_block, hash, seed, competition, tasks, scored, load_data_seconds, started } = parts;
        let record_input = ScoringRecord {
            current_block: head,
            epsilon: competition.constraints.epsilon,
            mode: self.schedule.rules.mode,
            weighting: self.schedule.rules.weighting,
            anti_clone: self.schedule.rules.anti_clone,
            models: scored.iter().map(|s| s.entry.clone()).collect(),
        };
        let outcome = record_input.compute()?;
        let view = self.current_view().context("no metagraph")?;
        let n = view.metagraph.n();
        let uids: Vec<u16> = outcome.models.iter().map(|m| m.uid).collect();
        let win_rates: Vec<f64> = outcome.models.iter().map(|m| m.win_rate).collect();
        let all_failed = record_input.all_failed();

        let mut inner = self.inner.lock().expect("state lock");
        let schedule_now = self.reward_shares(head)?;
        let params = self.schedule.rules.tracker;
        if all_failed {
            tracing::warn!(
                competition = competition.id,
                "every model failed this round: the tracker is left as it was"
            );
        } else {
            let mut step_weights = vec![0.0; n.max(inner.tracker.num_neurons())];
            for m in &outcome.models {
                if let Some(w) = step_weights.get_mut(m.uid as usize) {
                    *w = m.weight;
                }
            }
            inner.tracker.record(competition.id, &step_weights, &params)?;
        }
        let active: Vec<i64> = schedule_now.iter().map(|(id, _)| *id).collect();
        inner.tracker.reset_competitions(&active);
        inner.sets.retain_competitions(&active);
        let subnet = inner.tracker.subnet_weights(&schedule_now, &params);
        let competition_weights =
            inner.tracker.competition_weights(competition.id).map(<[f64]>::to_vec).unwrap_or_default();
        let kept = uids_to_keep(&uids, &win_rates, &competition_weights, self.schedule.rules.sample_min);
        inner.sets.set_kept(competition.id, kept.iter().copied());

        // The round's winner, for the retry rule: the best win rate, earliest uid on ties.
        let winner = outcome
            .models
            .iter()
            .zip(&scored)
            .max_by(|a, b| a.0.win_rate.total_cmp(&b.0.win_rate).then(b.0.uid.cmp(&a.0.uid)));
        if let Some((_, w)) = winner {
            for s in &scored {
                inner.models.on_model_evaluated(
                    &s.record.hotkey,
                    competition.id,
                    EvalResult {
                        block: head,
                        score: s.record.score,
                        winning_model_block: w.record.commit_block.unwrap_or(head),
                        winning_model_score: w.record.score,
                    },
                );
            }
        }
        inner.progress.global_step += 1;
        inner.progress.rounds_scored += 1;
        inner.progress.last_run_by_competition.insert(competition.id, sync_block);
        let step = inner.progress.global_step;
        drop(inner);
        self.save_state()?;

        let nonzero = |w: &[f64]| -> BTreeMap<u16, f64> {
            w.iter().enumerate().filter(|(_, v)| **v > 0.0).map(|(uid, v)| (uid as u16, *v)).collect()
        };
        let record = StepRecord {
            record_version: RECORD_VERSION,
            time_unix: SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
            step,
            block: head,
            sync_block: self.schedule.rules.sync_blocks.map(|_| sync_block),
            block_hash: Some(hash),
            seed: Some(seed.to_decimal()),
            competition_id: competition.id,
            competition_name: competition.name.clone(),
            tasks: competition
                .eval_tasks
                .iter()
                .zip(&tasks)
                .map(|(t, s)| TaskRecord {
                    name: t.name.clone(),
                    dataset: format!("{:?}", t.dataset),
                    method: format!("{:?}", t.method),
                    sample_ids: s.samples.iter().map(|x| x.id.clone()).collect(),
                })
                .collect(),
            models: scored.iter().map(|s| s.record.clone()).collect(),
            input: record_input,
            outcome: outcome
                .models
                .iter()
                .map(|m| OutcomeRecord {
                    uid: m.uid,
                    wins: m.wins,
                    win_rate: m.win_rate,
                    weight: m.weight,
                    competitive: m.competitive,
                })
                .collect(),
            tracker_updated: !all_failed,
            competition_weights: nonzero(&competition_weights),
            subnet_weights: nonzero(&subnet),
            kept_uids: kept,
            load_data_seconds,
            total_seconds: started.elapsed().as_secs_f64(),
            weights_submissions: Vec::new(),
            vtrust: None,
        };
        Ok(record)
    }
}

/// A bar of models scored, on a terminal only (logs and pm2 get the log lines instead).
fn progress_bar(models: u64, competition: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(models);
    let style = indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} models · {msg} · {elapsed}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_prefix(format!("evaluating {competition}"));
    bar
}

struct RoundParts<'a> {
    head: Block,
    sync_block: Block,
    hash: String,
    seed: Seed,
    competition: &'a Competition,
    tasks: Vec<TaskSamples>,
    scored: Vec<Scored>,
    load_data_seconds: f64,
    started: Instant,
}
