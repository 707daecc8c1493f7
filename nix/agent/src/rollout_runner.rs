//! GitHub mode's rollouts, the edge: follows instance metadata `openclaw-system`, runs
//! the fetch, switch and boot-default commands, holds the health gate (watched units
//! active, the gateway healthy, Telegram `getMe` with the bot's token, guest attributes
//! writable) and reports through `openclaw/rollout` and `openclaw/system`. The
//! decisions are in [`crate::rollout`].

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use claw_free_protocol::metadata::SecretName;
use claw_free_protocol::rollout::{
    self as contract, Rev, RolloutReport, RolloutState, StorePath, SystemRef,
};

use crate::app::shell;
use crate::cli::{rooted, RolloutOptions};
use crate::context::Context;
use crate::fsutil::{self, PRIVATE_FILE};
use crate::log;
use crate::metadata::{transport_reason, Persistence};
use crate::rollout::{self, Good, Journal, Plan, Resume, Step};

/// The pause between two rounds of the health gate.
const GATE_RETRY: Duration = Duration::from_secs(1);
/// The longest one probe of the gate may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to pause between plain reads when the server gives no ETag to wait on.
const POLL_WITHOUT_ETAG: Duration = Duration::from_secs(5);

/// Runs forever.
pub fn run(ctx: &Context) -> Result<(), String> {
    ctx.wait_for_setup("rollout");
    let runner = Runner::new(ctx);
    let found = runner.load_journal();
    let mut journal = match (rollout::resume(found.as_ref()), found) {
        (Resume::Revert { reason, reactivate }, Some(interrupted)) => {
            log::event("rollout", &reason);
            Some(runner.revert(interrupted, reason, reactivate, false))
        }
        (Resume::FinishDefault, Some(interrupted)) => {
            log::event(
                "rollout",
                "the agent stopped while making a healthy system the boot default; finishing",
            );
            Some(runner.make_default(interrupted))
        }
        // The last outcome again: the agent may have stopped before publishing it,
        // and CI waits for it.
        (_, ended) => {
            if let Some(ended) = &ended {
                runner.report(Some(ended.target.rev.clone()), &ended.step.reported());
            }
            ended
        }
    };
    if let Some(good) = runner.last_good() {
        runner.publish_system(&good);
    }
    if let Some(previous) = runner.recorded_previous() {
        runner.publish_previous(&previous);
    }
    log::event("rollout", "following instance metadata openclaw-system");
    let (mut attributes, mut etag) = ctx.metadata.attributes();
    // A malformed value is reported once, not at every metadata change.
    let mut refused: Option<String> = None;
    loop {
        let value = attributes.get(contract::METADATA_KEY).map(String::as_str);
        match rollout::plan(value, journal.as_ref()) {
            Plan::Nothing => {}
            Plan::Refuse { .. } if refused.as_deref() == value => {}
            Plan::Refuse { rev, reason } => {
                log::event("rollout", &format!("refused: {reason}"));
                runner.report(rev, &RolloutState::Refused(reason));
                refused = value.map(str::to_string);
            }
            Plan::Roll(target) => journal = Some(runner.roll(target)),
        }
        (attributes, etag) = match etag {
            Some(tag) => ctx.metadata.wait_for_change(&tag),
            None => {
                thread::sleep(POLL_WITHOUT_ETAG);
                ctx.metadata.attributes()
            }
        };
    }
}

struct Runner<'a> {
    ctx: &'a Context,
    options: &'a RolloutOptions,
    journal_file: PathBuf,
    good_file: PathBuf,
    /// The last good system before the current one, which a roll back returns to.
    previous_file: PathBuf,
    http: ureq::Agent,
}

impl<'a> Runner<'a> {
    fn new(ctx: &'a Context) -> Self {
        Self {
            ctx,
            options: &ctx.options.rollout,
            journal_file: ctx.paths.state_dir.join("rollout.json"),
            good_file: ctx.paths.state_dir.join("system.json"),
            previous_file: ctx.paths.state_dir.join("previous-system.json"),
            http: crate::health::loopback_client(PROBE_TIMEOUT),
        }
    }

    /// One rollout, from the request to its end; returns the final journal.
    fn roll(&self, target: SystemRef) -> Journal {
        let rev = target.rev.clone();
        log::event(
            "rollout",
            &format!(
                "{} {} requested: {}",
                if target.rollback {
                    "roll back to"
                } else {
                    "system"
                },
                rev,
                target.path
            ),
        );
        let mut journal = Journal {
            previous: self.last_good(),
            target,
            step: Step::Fetching,
        };
        let path = journal.target.path.clone();
        if journal.target.rollback {
            // A roll back has no CI run behind it: only a system still on the VM.
            if !self.present(&path) {
                let reason =
                    format!("revision {rev} is not on this VM any more; deploy it again from CI");
                return self.end(journal, RolloutState::Refused(reason));
            }
        } else {
            self.enter(&mut journal, Step::Fetching);
            if let Err(reason) = self.cache_has(&path) {
                return self.revert(journal, reason, false, false);
            }
            if let Err(e) = self.run_cmd(&self.options.fetch_cmd, &path, None) {
                let reason = format!("fetching the system failed ({e})");
                return self.revert(journal, reason, false, false);
            }
            if !self.present(&path) {
                let reason =
                    "the fetched path is not a NixOS system (no bin/switch-to-configuration)"
                        .to_string();
                return self.revert(journal, reason, false, false);
            }
        }
        self.enter(&mut journal, Step::Switching);
        if let Err(e) = self.switch(&path) {
            let reason = format!("activating the system failed ({e})");
            return self.revert(journal, reason, true, false);
        }
        self.enter(&mut journal, Step::Checking);
        if let Err(reason) = self.gate(&rev) {
            return self.revert(journal, reason, true, false);
        }
        self.make_default(journal)
    }

    /// Makes a healthy system the boot default and records it as the last good one.
    fn make_default(&self, mut journal: Journal) -> Journal {
        self.enter(&mut journal, Step::MakingDefault);
        let path = journal.target.path.clone();
        if let Err(e) = self.run_cmd(&self.options.boot_cmd, &path, None) {
            let reason = format!("making the system the boot default failed ({e})");
            return self.revert(journal, reason, true, true);
        }
        let good = Good::from(&journal.target);
        if let Some(previous) = journal.previous.as_ref().filter(|p| p.path != good.path) {
            self.record_previous(previous);
        }
        keep(
            &self.good_file,
            &good.to_json(),
            "record the last good system",
        );
        self.publish_system(&good);
        log::event(
            "rollout",
            &format!("system {} is running and the boot default", good_rev(&good)),
        );
        self.end(journal, RolloutState::Done)
    }

    /// Returns to the previous system and reports why.
    fn revert(&self, journal: Journal, reason: String, reactivate: bool, boot: bool) -> Journal {
        let mut reason = reason;
        match (&journal.previous, reactivate) {
            (_, false) => {}
            (None, true) => reason.push_str("; no previous system is recorded to return to"),
            (Some(previous), true) => {
                log::event(
                    "rollout",
                    &format!("re-activating the previous system {}", good_rev(previous)),
                );
                if let Err(e) = self.switch(&previous.path) {
                    reason.push_str(&format!(
                        "; re-activating the previous system failed too ({e})"
                    ));
                }
                if boot {
                    if let Err(e) = self.run_cmd(&self.options.boot_cmd, &previous.path, None) {
                        reason.push_str(&format!(
                            "; restoring the previous boot default failed too ({e})"
                        ));
                    }
                }
            }
        }
        log::event("rollout", &format!("rolled back: {reason}"));
        self.end(journal, RolloutState::RolledBack(reason))
    }

    fn end(&self, mut journal: Journal, state: RolloutState) -> Journal {
        journal.step = Step::Ended(state.clone());
        self.save(&journal);
        self.report(Some(journal.target.rev.clone()), &state);
        journal
    }

    /// Journals `step` before it starts, then reports it (the gate reports `checking`
    /// itself, as its first check; making the default is still `checking` outside).
    fn enter(&self, journal: &mut Journal, step: Step) {
        journal.step = step;
        self.save(journal);
        if matches!(journal.step, Step::Fetching | Step::Switching) {
            self.report(Some(journal.target.rev.clone()), &journal.step.reported());
        }
    }

    fn save(&self, journal: &Journal) {
        keep(
            &self.journal_file,
            &journal.to_json(),
            "write the rollout journal",
        );
    }

    fn report(&self, rev: Option<Rev>, state: &RolloutState) -> bool {
        let report = RolloutReport {
            rev,
            state: state.clone(),
        };
        let persistence = if state.is_final() {
            Persistence::UntilAnswered
        } else {
            Persistence::Attempts(3)
        };
        self.ctx
            .metadata
            .publish(contract::GUEST_ROLLOUT, &report.to_string(), persistence)
            .is_ok()
    }

    /// Records and publishes the system a roll back would return to (one with a
    /// revision: the image's own system cannot be named in a request).
    fn record_previous(&self, previous: &Good) {
        let Some(rev) = &previous.rev else {
            return;
        };
        keep(
            &self.previous_file,
            &previous.to_json(),
            "record the previous system",
        );
        self.publish_previous(&SystemRef {
            path: previous.path.clone(),
            rev: rev.clone(),
            rollback: false,
        });
    }

    fn publish_previous(&self, previous: &SystemRef) {
        let _ = self.ctx.metadata.publish(
            contract::GUEST_PREVIOUS,
            &previous.to_json(),
            Persistence::Attempts(5),
        );
    }

    fn publish_system(&self, good: &Good) {
        if let Some(rev) = &good.rev {
            let _ = self.ctx.metadata.publish(
                contract::GUEST_SYSTEM,
                rev.as_str(),
                Persistence::Attempts(5),
            );
        }
    }

    fn load_journal(&self) -> Option<Journal> {
        let text = fs::read_to_string(&self.journal_file).ok()?;
        let journal = Journal::parse(&text);
        if journal.is_none() {
            log::event("rollout", "the rollout journal is unreadable; ignored");
        }
        journal
    }

    /// The recorded last good system, or else the one running now (booted from the image).
    fn last_good(&self) -> Option<Good> {
        if let Some(good) = fs::read_to_string(&self.good_file)
            .ok()
            .and_then(|text| Good::parse(&text))
        {
            return Some(good);
        }
        let link =
            fs::read_link(rooted(&self.ctx.options.root, &self.options.current_system)).ok()?;
        let path = StorePath::parse(link.to_str()?).ok()?;
        Some(Good { path, rev: None })
    }

    fn recorded_previous(&self) -> Option<SystemRef> {
        let good = Good::parse(&fs::read_to_string(&self.previous_file).ok()?)?;
        Some(SystemRef {
            path: good.path,
            rev: good.rev?,
            rollback: false,
        })
    }

    /// Whether `path` is a whole system on this VM.
    fn present(&self, path: &StorePath) -> bool {
        rooted(&self.ctx.options.root, path.as_str().as_ref())
            .join("bin/switch-to-configuration")
            .is_file()
    }

    /// Asks the local substituter for the system's narinfo, so that a system missing
    /// from the cache, or a bucket the VM may not read, is reported as such rather than
    /// as the fetch command's exit status.
    fn cache_has(&self, path: &StorePath) -> Result<(), String> {
        let Some(cache) = &self.options.cache_url else {
            return Ok(());
        };
        let url = format!("{cache}/{}", contract::cache::narinfo(path.hash()));
        let fail = |why: String| format!("fetching the system failed ({why})");
        match self.http.get(&url).call() {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(mut r) => {
                let status = r.status().as_u16();
                let said = r.body_mut().read_to_string().unwrap_or_default();
                let said = log::one_line(said.trim());
                Err(fail(match status {
                    404 if said.contains("No such object") || said.is_empty() => {
                        "the binary cache has no such system; did CI upload it?".to_string()
                    }
                    403 => format!(
                        "the VM may not read the binary cache: {}",
                        said.trim_start_matches("Cloud Storage answered 403: ")
                    ),
                    _ => format!("the binary cache answered HTTP {status}: {said}"),
                }))
            }
            Err(e) => Err(fail(format!(
                "the local binary cache cannot be reached: {}",
                transport_reason(&e)
            ))),
        }
    }

    fn switch(&self, path: &StorePath) -> Result<(), String> {
        let id = format!("{}-{}", &path.hash()[..12], unix_nanos());
        self.run_cmd(&self.options.switch_cmd, path, Some(&id))
    }

    /// Runs `template` with `{path}` (and `{id}`) filled in through `sh -c`. Both are
    /// parsed values with no character a shell would interpret.
    fn run_cmd(&self, template: &str, path: &StorePath, id: Option<&str>) -> Result<(), String> {
        let mut command = template.replace("{path}", path.as_str());
        if let Some(id) = id {
            command = command.replace("{id}", id);
        }
        shell(&command).map_err(|failure| failure.to_string())
    }

    /// The health gate: every check passes in one round before the deadline.
    fn gate(&self, rev: &Rev) -> Result<(), String> {
        if !self.report(Some(rev.clone()), &RolloutState::Checking) {
            return Err("guest attributes are not writable".into());
        }
        let deadline = Instant::now() + self.options.deadline;
        let mut last_logged = String::new();
        loop {
            let failures = self.failed_checks();
            if failures.is_empty() {
                log::event("rollout", "health gate passed");
                return Ok(());
            }
            let reason = failures.join("; ");
            if reason != last_logged {
                log::event("rollout", &format!("health gate waiting: {reason}"));
                last_logged = reason.clone();
            }
            if Instant::now() + GATE_RETRY > deadline {
                return Err(format!(
                    "not healthy within {}s: {reason}",
                    self.options.deadline.as_secs()
                ));
            }
            thread::sleep(GATE_RETRY);
        }
    }

    fn failed_checks(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for unit in &self.options.watched_units {
            if shell(&self.options.unit_check_cmd.replace("{unit}", unit)).is_err() {
                failures.push(format!("{unit} is not active"));
            }
        }
        match self.http.get(&self.ctx.options.health_url).call() {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => failures.push(format!(
                "the gateway's health check answered HTTP {}",
                r.status().as_u16()
            )),
            Err(e) => failures.push(format!(
                "the gateway's health check failed ({})",
                transport_reason(&e)
            )),
        }
        if let Err(e) = self.telegram_get_me() {
            failures.push(e);
        }
        failures
    }

    /// Telegram `getMe` with the bot's token, through curl: the agent carries no TLS,
    /// and the token goes in curl's configuration on stdin, never on a command line.
    fn telegram_get_me(&self) -> Result<(), String> {
        let file = match &self.options.token_file {
            Some(file) => rooted(&self.ctx.options.root, file),
            None => self.ctx.paths.secret(&SecretName::telegram_token()),
        };
        let token = fs::read_to_string(&file)
            .map_err(|_| "the Telegram token file cannot be read".to_string())?;
        let token = token.trim();
        if !token_shaped(token) {
            return Err("the Telegram token file does not hold a bot token".into());
        }
        let url = format!("{}/bot{token}/getMe", self.options.telegram_api);
        let (status, body) =
            crate::curl::exchange(&self.options.curl, "10", "GET", &url, &[], None)
                .map_err(|e| format!("Telegram getMe failed: {e}"))?;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if status == 200 && json["ok"] == true {
            return Ok(());
        }
        let description = json["description"].as_str().unwrap_or("no description");
        Err(format!(
            "Telegram getMe refused the bot's token (HTTP {}: {})",
            status,
            log::one_line(description)
        ))
    }
}

/// `<digits>:<letters, digits, _ or ->`: the shape of a bot token, and nothing that could
/// end the quoted URL in curl's configuration.
fn token_shaped(token: &str) -> bool {
    token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && !secret.is_empty()
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

fn good_rev(good: &Good) -> String {
    good.rev
        .as_ref()
        .map_or_else(|| good.path.to_string(), Rev::to_string)
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Writes one of the rollout's root-only files atomically. A failure is logged
/// ("cannot {what}") and otherwise let go: the rollout itself goes on.
fn keep(path: &Path, contents: &str, what: &str) {
    if let Err(e) = fsutil::write_atomic(path, contents.as_bytes(), PRIVATE_FILE) {
        log::event("rollout", &format!("cannot {what}: {}", e.kind()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_token_shaped_values_reach_curl() {
        assert!(token_shaped("7000000001:AAFirst_Token-x"));
        for bad in ["", "abc:def", "123:", "123:a\"b", "123:a\nurl = x", "123"] {
            assert!(!token_shaped(bad), "{bad:?}");
        }
    }
}
