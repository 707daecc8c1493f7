//! The edge of the setup conversation: holds the session and the running sign-in,
//! runs each action the [`conversation`] asks for (processes, OpenClaw's CLI and
//! configuration), feeds the outcome back, and saves the stage after every turn.
//!
//! One conversation per VM, so one lock serialises turns. Nothing here logs a message,
//! a code or a key: logs name stages and actions only.

use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use claw_free_protocol::provider::Provider;

use crate::children::RunAs;
use crate::config::Config;
use crate::conversation::{self, Action, Context, Event, Session};
use crate::login::{Login, LoginSettings};
use crate::openclaw;
use crate::store::StageStore;

struct Inner {
    session: Session,
    login: Option<Login>,
    /// The provider whose sign-in was killed by its timeout, reported on the next turn.
    timed_out: Option<Provider>,
    /// The last turn's fingerprint and answer, so that a retried request is answered
    /// again instead of being taken as a new message. Kept in memory only.
    last_turn: Option<(u64, String)>,
}

pub struct Setup {
    config: Arc<Config>,
    run_as: Option<RunAs>,
    context: Context,
    store: StageStore,
    inner: Mutex<Inner>,
    /// The stage's name, readable while a turn holds the main lock.
    stage_name: Mutex<&'static str>,
}

impl Setup {
    /// Loads the saved stage, so that a restart resumes the conversation.
    pub fn open(config: Arc<Config>, preferred: Option<Provider>) -> Result<Self, String> {
        let run_as = config.cli_user.as_deref().map(RunAs::user).transpose()?;
        let store = StageStore::open(&config.state_dir)?;
        let session = store.load()?;
        let name = session.stage.name();
        Ok(Self {
            config,
            run_as,
            context: Context { preferred },
            store,
            inner: Mutex::new(Inner {
                session,
                login: None,
                timed_out: None,
                last_turn: None,
            }),
            stage_name: Mutex::new(name),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stage_name(&self) -> &'static str {
        *self.stage_name.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers the latest user message. `fingerprint` identifies the turn (the message
    /// and its position), so a retried request gets the same answer.
    pub fn answer(&self, message: &str, fingerprint: u64) -> String {
        let mut inner = self.lock();
        if let Some((last, reply)) = &inner.last_turn {
            if *last == fingerprint {
                return reply.clone();
            }
        }
        let before = inner.session.stage.name();
        let mut replies = Vec::new();
        let mut step = conversation::step(
            &mut inner.session,
            self.context,
            Event::User(message.to_string()),
        );
        loop {
            if !step.reply.is_empty() {
                replies.push(std::mem::take(&mut step.reply));
            }
            let Some(action) = step.action.take() else {
                break;
            };
            eprintln!("setup: {}", describe(&action));
            let Some(event) = self.run(&mut inner, action) else {
                break;
            };
            step = conversation::step(&mut inner.session, self.context, event);
        }
        let after = inner.session.stage.name();
        if before != after {
            eprintln!("setup: stage {before} -> {after}");
        }
        if let Err(e) = self.store.save(&inner.session) {
            eprintln!("setup: cannot save the stage: {e}");
        }
        *self.stage_name.lock().unwrap_or_else(|p| p.into_inner()) = after;
        let reply = if replies.is_empty() {
            "Sorry, something went wrong on my side. Please send your last message again."
                .to_string()
        } else {
            replies.join("\n\n")
        };
        inner.last_turn = Some((fingerprint, reply.clone()));
        reply
    }

    fn login_settings(&self) -> LoginSettings<'_> {
        LoginSettings {
            claude: &self.config.claude,
            codex: &self.config.codex,
            run_as: self.run_as,
            timeout: self.config.timeout(),
            output_wait: Duration::from_secs(self.config.output_wait_secs),
            code_wait: Duration::from_secs(self.config.code_wait_secs),
        }
    }

    /// Runs one action and returns the event it produced.
    fn run(&self, inner: &mut Inner, action: Action) -> Option<Event> {
        match action {
            Action::StartLogin(provider) => {
                if let Some(old) = inner.login.take() {
                    old.cancel();
                }
                inner.timed_out = None;
                let (login, event) = Login::start(provider, &self.login_settings());
                inner.login = login;
                Some(event)
            }
            Action::SendLoginCode(code) => Some(match inner.login.as_mut() {
                Some(login) => {
                    let event = login.send_code(&code, self.login_settings().code_wait);
                    if let Some(login) = inner.login.take() {
                        login.cancel();
                    }
                    event
                }
                None => lost(inner),
            }),
            Action::CheckLogin => Some(match inner.login.as_mut() {
                Some(login) => {
                    let event = login.check(Duration::from_secs(self.config.device_wait_secs));
                    if !matches!(event, Event::LoginPending) {
                        if let Some(login) = inner.login.take() {
                            login.cancel();
                        }
                    }
                    event
                }
                None => lost(inner),
            }),
            Action::CancelLogin => {
                if let Some(login) = inner.login.take() {
                    login.cancel();
                }
                None
            }
            Action::SaveCredential(credential) => {
                if let Some(login) = inner.login.take() {
                    login.cancel();
                }
                let timeout = Duration::from_secs(self.config.command_timeout_secs);
                Some(
                    match openclaw::hand_credential(
                        &self.config.openclaw,
                        &credential,
                        timeout,
                        self.run_as,
                    ) {
                        Ok(()) => Event::CredentialSaved,
                        Err(reason) => {
                            eprintln!("setup: OpenClaw refused the credential: {reason}");
                            Event::CredentialRefused { reason }
                        }
                    },
                )
            }
            Action::Finish {
                primary,
                alternatives,
            } => Some(self.finish(primary, &alternatives)),
        }
    }

    fn finish(&self, primary: Provider, alternatives: &[Provider]) -> Event {
        let main = self.config.models_for(primary);
        let mut fallbacks = main.alternatives.clone();
        for other in alternatives {
            let models = self.config.models_for(*other);
            fallbacks.push(models.primary);
            fallbacks.extend(models.alternatives);
        }
        let kimi = primary == Provider::Kimi || alternatives.contains(&Provider::Kimi);
        let edited = openclaw::edit_config(&self.config.openclaw_config, |config| {
            openclaw::use_models(
                config,
                &main.primary,
                &fallbacks,
                kimi.then_some(self.config.nvidia_base_url.as_str()),
            )
        });
        match edited {
            Ok(()) => {
                self.restart_gateway_later();
                Event::Finished
            }
            Err(reason) => {
                eprintln!("setup: cannot update OpenClaw's configuration: {reason}");
                Event::FinishFailed { reason }
            }
        }
    }

    /// Restarts the gateway after a delay, so that this answer reaches the user first
    /// (the gateway is the one waiting for it).
    fn restart_gateway_later(&self) {
        let command = self.config.restart_gateway.clone();
        let delay = Duration::from_millis(self.config.restart_delay_ms);
        let timeout = Duration::from_secs(self.config.command_timeout_secs);
        thread::spawn(move || {
            thread::sleep(delay);
            match openclaw::restart_gateway(&command, timeout) {
                Ok(()) => eprintln!("setup: the gateway was restarted"),
                Err(e) => eprintln!("setup: cannot restart the gateway: {e}"),
            }
        });
    }

    /// Kills a sign-in that ran past its timeout. Called periodically.
    pub fn reap_expired(&self) {
        let mut inner = self.lock();
        if inner.login.as_ref().is_some_and(Login::is_expired) {
            let login = inner.login.take().expect("checked above");
            inner.timed_out = Some(login.provider());
            login.cancel();
            eprintln!(
                "setup: the sign-in timed out after {} s; its processes were stopped",
                self.config.login_timeout_secs
            );
        }
    }

    /// Forgets the conversation (for `clawfree switch-llm`): the next message is
    /// welcomed again. Returns the new stage's name.
    /// `clawfree switch-llm`: makes the Setup model (at `setup_base_url`) OpenClaw's
    /// primary model again and starts the conversation over. Done here because this
    /// process runs as root and owns both files, while `clawfree` runs as the
    /// gateway's user, which can write neither. The caller restarts the gateway.
    pub fn reset(&self, setup_base_url: &str) -> Result<&'static str, String> {
        let key = crate::access::read_key(&self.config.api_key_file)
            .ok_or("the Setup model has no API key yet")?;
        let mut inner = self.lock();
        openclaw::edit_config(&self.config.openclaw_config, |config| {
            openclaw::use_setup(config, setup_base_url, &key)
        })?;
        if let Some(login) = inner.login.take() {
            login.cancel();
        }
        inner.session = Session::default();
        inner.timed_out = None;
        inner.last_turn = None;
        self.store.save(&inner.session)?;
        let name = inner.session.stage.name();
        *self.stage_name.lock().unwrap_or_else(|p| p.into_inner()) = name;
        eprintln!("setup: the conversation was reset");
        Ok(name)
    }

    /// The file that holds the key every caller must present (see `access`).
    pub fn api_key_file(&self) -> &std::path::Path {
        &self.config.api_key_file
    }

    /// Stops the running sign-in, if any (on shutdown).
    pub fn shutdown(&self) {
        if let Some(login) = self.lock().login.take() {
            login.cancel();
        }
    }
}

/// The event for a sign-in the stage expects but that is not running.
fn lost(inner: &mut Inner) -> Event {
    match inner.timed_out.take() {
        Some(_) => Event::LoginFailed {
            reason: "it timed out before it was completed".into(),
        },
        None => Event::LoginLost,
    }
}

fn describe(action: &Action) -> String {
    match action {
        Action::StartLogin(p) => format!("starting the {p} sign-in"),
        Action::SendLoginCode(_) => "sending the sign-in code".into(),
        Action::CheckLogin => "checking the sign-in".into(),
        Action::CancelLogin => "cancelling the sign-in".into(),
        Action::SaveCredential(c) => format!("handing a {} {:?} to OpenClaw", c.provider, c.kind),
        Action::Finish {
            primary,
            alternatives,
        } => {
            format!("switching OpenClaw to {primary} (alternatives: {alternatives:?})")
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.shutdown();
    }
}
