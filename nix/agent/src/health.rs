//! The health reporter: probes the app's local health URL, publishes `openclaw/health`,
//! publishes `setup=ready` once the app answers healthy, and restarts an app that keeps
//! failing, backing off so a broken app is not restarted in a loop. A freshly started app
//! gets a grace period before its failures count: the real gateway takes far longer than a
//! few probes to start on a shared-core VM, and restarting it mid-start would keep it from
//! ever starting.

use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use claw_free_protocol::guest::{self, Health, SetupState};
use claw_free_protocol::metadata::SecretName;

use crate::context::Context;
use crate::log;
use crate::metadata::{transport_reason, Persistence};

/// Probe at least this often until the first healthy answer, so `ready` is prompt.
const STARTUP_INTERVAL: Duration = Duration::from_secs(5);
/// The longest wait between two restarts, however often the app fails.
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(3600);
/// The longest a probe may take.
const MAX_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Healthy,
    Unhealthy(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub interval: Duration,
    /// Failed probes in a row (while the app should be running) before a restart.
    pub failures_before_restart: u32,
    /// The least time between two restarts; doubled after each, reset by a healthy answer.
    pub restart_backoff: Duration,
    /// How long an app that has not answered healthy since it was started (by the token's
    /// arrival or by a restart) may fail before its failures count toward a restart.
    pub start_grace: Duration,
}

/// What to do after a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub health: Health,
    pub publish_ready: bool,
    pub restart: bool,
}

impl Decision {
    /// Failing at `at` for `reason`: nothing to announce, and `restart` or not.
    fn failing(at: u64, reason: String, restart: bool) -> Self {
        Self {
            health: Health::Failing { at, reason },
            publish_ready: false,
            restart,
        }
    }
}

/// The reporter's memory between probes; pure, so its rules are unit-tested.
#[derive(Debug)]
pub struct Tracker {
    policy: Policy,
    failures_in_row: u32,
    ever_healthy: bool,
    ready_published: bool,
    last_restart: Option<Instant>,
    backoff: Duration,
    start: Start,
}

/// Where the app is in its start, for the grace its failures get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Not seen failing yet: the first failure (the agent itself may have just started
    /// beside a starting app) opens the grace.
    Unknown,
    /// Started then, and has not answered healthy since.
    Since(Instant),
    /// Answered healthy since its last start: failures count at once.
    Over,
}

impl Tracker {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            failures_in_row: 0,
            ever_healthy: false,
            ready_published: false,
            last_restart: None,
            backoff: policy.restart_backoff,
            start: Start::Unknown,
        }
    }

    /// `app_expected`: the app has what it needs to run (its Telegram token). Before
    /// that, failing is normal and no reason to restart it.
    pub fn observe(
        &mut self,
        probe: Probe,
        app_expected: bool,
        unix_now: u64,
        now: Instant,
    ) -> Decision {
        match probe {
            Probe::Healthy => {
                self.failures_in_row = 0;
                self.ever_healthy = true;
                self.start = Start::Over;
                self.backoff = self.policy.restart_backoff;
                Decision {
                    health: Health::Ok { at: unix_now },
                    publish_ready: !self.ready_published,
                    restart: false,
                }
            }
            Probe::Unhealthy(reason) => {
                // After a failure, the next healthy answer is announced again.
                self.ready_published = false;
                if !app_expected {
                    self.failures_in_row = 0;
                    // The token's arrival starts the app: its grace begins then.
                    self.start = Start::Since(now);
                    return Decision::failing(
                        unix_now,
                        format!("waiting for the Telegram token ({reason})"),
                        false,
                    );
                }
                if self.start == Start::Unknown {
                    self.start = Start::Since(now);
                }
                let in_grace = match self.start {
                    Start::Since(at) => now.duration_since(at) < self.policy.start_grace,
                    Start::Unknown | Start::Over => false,
                };
                if in_grace {
                    return Decision::failing(unix_now, format!("starting ({reason})"), false);
                }
                self.failures_in_row += 1;
                let backed_off = self
                    .last_restart
                    .is_none_or(|at| now.duration_since(at) >= self.backoff);
                Decision::failing(
                    unix_now,
                    reason,
                    self.failures_in_row >= self.policy.failures_before_restart && backed_off,
                )
            }
        }
    }

    pub fn ready_published(&mut self) {
        self.ready_published = true;
    }

    pub fn restarted(&mut self, now: Instant) {
        if self.last_restart.is_some() {
            self.backoff = (self.backoff * 2).min(MAX_RESTART_BACKOFF);
        }
        self.last_restart = Some(now);
        self.failures_in_row = 0;
        self.start = Start::Since(now);
    }

    /// The pause before the next probe.
    pub fn next_interval(&self) -> Duration {
        if self.ever_healthy {
            self.policy.interval
        } else {
            self.policy.interval.min(STARTUP_INTERVAL)
        }
    }
}

/// Runs forever.
pub fn run(ctx: &Context) -> Result<(), String> {
    ctx.wait_for_setup("health");
    let options = &ctx.options;
    let policy = Policy {
        interval: options.health_interval,
        failures_before_restart: options.health_failures,
        restart_backoff: options.restart_backoff,
        start_grace: options.start_grace,
    };
    let timeout = options.health_interval.min(MAX_PROBE_TIMEOUT);
    let http = loopback_client(timeout);
    let token = ctx.paths.secret(&SecretName::telegram_token());
    let mut tracker = Tracker::new(policy);
    let mut last_logged: Option<Probe> = None;
    log::event(
        "health",
        &format!(
            "probing {} every {}s",
            options.health_url,
            policy.interval.as_secs()
        ),
    );
    loop {
        let probe = probe(&http, &options.health_url);
        if last_logged.as_ref() != Some(&probe) {
            let text = match &probe {
                Probe::Healthy => "app is healthy".to_string(),
                Probe::Unhealthy(reason) => format!("app is not healthy: {reason}"),
            };
            log::event("health", &text);
            last_logged = Some(probe.clone());
        }
        let decision = tracker.observe(probe, token.is_file(), unix_now(), Instant::now());
        let _ = ctx.metadata.publish(
            guest::HEALTH,
            &decision.health.to_string(),
            Persistence::Attempts(3),
        );
        if decision.publish_ready
            && ctx
                .metadata
                .publish(
                    guest::SETUP,
                    &SetupState::Ready.to_string(),
                    Persistence::Attempts(3),
                )
                .is_ok()
        {
            log::event("health", "state ready");
            tracker.ready_published();
        }
        if decision.restart {
            let _ = ctx.app.restart(&format!(
                "{} failed health probes in a row",
                policy.failures_before_restart
            ));
            tracker.restarted(Instant::now());
        }
        thread::sleep(tracker.next_interval());
    }
}

/// An HTTP client for the VM's own loopback services (the gateway's health, the local
/// cache): a status is an answer, not an error; no proxy from the environment; one
/// connection kept; every call bounded by `timeout`.
pub fn loopback_client(timeout: Duration) -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(timeout))
            .max_idle_connections(1)
            .build(),
    )
}

fn probe(http: &ureq::Agent, url: &str) -> Probe {
    match http.get(url).call() {
        Ok(response) if response.status().is_success() => Probe::Healthy,
        Ok(response) => Probe::Unhealthy(format!("HTTP {}", response.status().as_u16())),
        Err(e) => Probe::Unhealthy(transport_reason(&e)),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(failures: u32, backoff_secs: u64) -> Tracker {
        Tracker::new(Policy {
            interval: Duration::from_secs(60),
            failures_before_restart: failures,
            restart_backoff: Duration::from_secs(backoff_secs),
            start_grace: Duration::ZERO,
        })
    }

    #[test]
    fn a_starting_app_gets_its_grace_and_a_healthy_one_none() {
        let mut t = Tracker::new(Policy {
            interval: Duration::from_secs(5),
            failures_before_restart: 3,
            restart_backoff: Duration::from_secs(60),
            start_grace: Duration::from_secs(300),
        });
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        // Waiting for its token, then started by it: a slow start is no reason to restart.
        t.observe(bad(), false, 0, at(0));
        for secs in (5..300).step_by(5) {
            let d = t.observe(bad(), true, secs, at(secs));
            assert!(!d.restart, "restarted {secs}s into its start");
            assert_eq!(
                d.health.to_string(),
                format!("failing {secs} starting (HTTP 503)")
            );
        }
        // Past the grace, failures count as usual.
        assert!(!t.observe(bad(), true, 300, at(300)).restart);
        assert!(!t.observe(bad(), true, 305, at(305)).restart);
        assert!(t.observe(bad(), true, 310, at(310)).restart);
        // A restart opens a new grace.
        t.restarted(at(310));
        for secs in [315, 320, 325, 330] {
            assert!(!t.observe(bad(), true, secs, at(secs)).restart);
        }
        // Once healthy, a failing app gets no grace: three failures restart it.
        t.observe(Probe::Healthy, true, 400, at(400));
        assert!(!t.observe(bad(), true, 1000, at(1000)).restart);
        assert!(!t.observe(bad(), true, 1005, at(1005)).restart);
        assert!(t.observe(bad(), true, 1010, at(1010)).restart);
    }

    fn bad() -> Probe {
        Probe::Unhealthy("HTTP 503".into())
    }

    #[test]
    fn ready_only_after_a_healthy_answer_and_again_after_a_failure() {
        let mut t = tracker(3, 60);
        let now = Instant::now();
        let d = t.observe(bad(), true, 100, now);
        assert!(!d.publish_ready);
        assert_eq!(d.health.to_string(), "failing 100 HTTP 503");
        let d = t.observe(Probe::Healthy, true, 101, now);
        assert!(d.publish_ready);
        assert_eq!(d.health, Health::Ok { at: 101 });
        t.ready_published();
        assert!(!t.observe(Probe::Healthy, true, 102, now).publish_ready);
        t.observe(bad(), true, 103, now);
        assert!(t.observe(Probe::Healthy, true, 104, now).publish_ready);
        // A failed publish is tried again on the next healthy answer.
        assert!(t.observe(Probe::Healthy, true, 105, now).publish_ready);
    }

    #[test]
    fn restart_after_n_failures_in_a_row_only() {
        let mut t = tracker(3, 60);
        let now = Instant::now();
        assert!(!t.observe(bad(), true, 1, now).restart);
        assert!(!t.observe(bad(), true, 2, now).restart);
        assert!(!t.observe(Probe::Healthy, true, 3, now).restart);
        assert!(!t.observe(bad(), true, 4, now).restart);
        assert!(!t.observe(bad(), true, 5, now).restart);
        assert!(t.observe(bad(), true, 6, now).restart);
    }

    #[test]
    fn restarts_back_off_and_a_healthy_answer_resets_the_back_off() {
        let mut t = tracker(1, 10);
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        assert!(t.observe(bad(), true, 0, start).restart);
        t.restarted(start);
        // Within the back-off: no restart however many failures.
        assert!(!t.observe(bad(), true, 5, at(5)).restart);
        assert!(t.observe(bad(), true, 10, at(10)).restart);
        t.restarted(at(10));
        // The back-off doubled to 20 s.
        assert!(!t.observe(bad(), true, 25, at(25)).restart);
        assert!(t.observe(bad(), true, 30, at(30)).restart);
        t.restarted(at(30));
        t.observe(Probe::Healthy, true, 31, at(31));
        assert!(t.observe(bad(), true, 40, at(40)).restart);
    }

    #[test]
    fn an_app_without_its_token_is_not_restarted() {
        let mut t = tracker(1, 1);
        let d = t.observe(
            Probe::Unhealthy("connection refused".into()),
            false,
            7,
            Instant::now(),
        );
        assert!(!d.restart);
        assert!(d
            .health
            .to_string()
            .starts_with("failing 7 waiting for the Telegram token"));
    }

    #[test]
    fn probes_faster_until_the_first_healthy_answer() {
        let mut t = tracker(3, 60);
        assert_eq!(t.next_interval(), STARTUP_INTERVAL);
        t.observe(Probe::Healthy, true, 1, Instant::now());
        assert_eq!(t.next_interval(), Duration::from_secs(60));
    }
}
