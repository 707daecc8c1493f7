//! The setup conversation as a pure state machine: the current stage and one event
//! (the user's latest message, or the outcome of an action) give the reply, the next
//! stage and at most one action for the edge to run. Nothing here touches a process,
//! a file or the clock, so every path is unit-tested.
//!
//! The edge ([`crate::setup`]) runs the action and feeds its outcome back as the next
//! event, until no action is left; the replies of that chain form the answer.

use claw_free_protocol::provider::Provider;
use serde::{Deserialize, Serialize};

use crate::keys::{self, Credential, Secret};

mod wording;
mod words;

use wording::{
    ask_another_text, ask_key, ask_method, ask_provider, finished_text, login_instructions,
    models_sentence,
};
use words::Words;

/// Where the conversation stands. Persisted, so a restart resumes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "stage", rename_all = "kebab-case")]
pub enum Stage {
    /// Nothing said yet.
    #[default]
    Welcome,
    /// Asked which provider to connect.
    ChooseProvider,
    /// Asked how to connect `provider`: subscription sign-in or API key.
    ChooseMethod { provider: Provider },
    /// A subscription sign-in is running; `url` and `code` are what the user was shown.
    LoggingIn {
        provider: Provider,
        url: Option<String>,
        code: Option<String>,
    },
    /// Asked for an API key.
    AwaitingKey { provider: Provider },
    /// Asked whether to add another provider as a backup.
    AddAnother,
    /// OpenClaw was switched to the connected providers.
    Finished,
}

impl Stage {
    /// The stage's name, as `GET /health` reports it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Welcome => "welcome",
            Self::ChooseProvider => "choose-provider",
            Self::ChooseMethod { .. } => "choose-method",
            Self::LoggingIn { .. } => "logging-in",
            Self::AwaitingKey { .. } => "awaiting-key",
            Self::AddAnother => "add-another",
            Self::Finished => "finished",
        }
    }

    fn provider(&self) -> Option<Provider> {
        match self {
            Self::ChooseMethod { provider }
            | Self::LoggingIn { provider, .. }
            | Self::AwaitingKey { provider } => Some(*provider),
            _ => None,
        }
    }
}

/// Everything the conversation remembers. Holds no secret, so it can live on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Session {
    #[serde(flatten)]
    pub stage: Stage,
    /// Providers connected so far; the first becomes the primary model.
    #[serde(default)]
    pub connected: Vec<Provider>,
}

/// What the conversation knows about its surroundings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// The provider the user picked on claw.free (instance metadata), offered first.
    pub preferred: Option<Provider>,
}

/// One input to the state machine.
#[derive(Debug)]
pub enum Event {
    /// The latest user message.
    User(String),
    /// The sign-in printed what the user must open (and, for a device login, type).
    LoginStarted { url: String, code: Option<String> },
    /// The sign-in command could not be started or printed no link.
    LoginNotStarted { reason: String },
    /// A device sign-in is still waiting for the user.
    LoginPending,
    /// The sign-in finished. `credential` is what OpenClaw still has to receive; none
    /// when the CLI keeps its own login (Codex).
    LoginSucceeded { credential: Option<Credential> },
    /// The sign-in ended without a credential.
    LoginFailed { reason: String },
    /// No sign-in is running although the stage says one is (we were restarted).
    LoginLost,
    /// OpenClaw stored the credential.
    CredentialSaved,
    /// OpenClaw refused the credential.
    CredentialRefused { reason: String },
    /// OpenClaw's configuration now uses the connected providers.
    Finished,
    /// Switching OpenClaw over failed.
    FinishFailed { reason: String },
}

/// Work for the edge. Each produces the event that is stepped next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Start (or restart) the subscription sign-in of a provider.
    StartLogin(Provider),
    /// Hand the code the user pasted to the running sign-in.
    SendLoginCode(Secret),
    /// Look whether the running device sign-in has completed.
    CheckLogin,
    /// Stop the running sign-in, if any. Produces no event.
    CancelLogin,
    /// Give OpenClaw a credential, stopping any sign-in that is still running.
    SaveCredential(Credential),
    /// Point OpenClaw at the connected providers and restart it.
    Finish {
        primary: Provider,
        alternatives: Vec<Provider>,
    },
}

/// The result of one step.
#[derive(Debug, Default)]
pub struct Step {
    pub reply: String,
    pub action: Option<Action>,
}

impl Step {
    fn say(reply: impl Into<String>) -> Self {
        Self {
            reply: reply.into(),
            action: None,
        }
    }

    fn then(mut self, action: Action) -> Self {
        self.action = Some(action);
        self
    }
}

/// Advances the conversation by one event.
pub fn step(session: &mut Session, context: Context, event: Event) -> Step {
    match event {
        Event::User(message) => on_user(session, context, &message),
        outcome => on_outcome(session, outcome),
    }
}

fn on_user(session: &mut Session, context: Context, message: &str) -> Step {
    let words = Words::of(message);

    if keys::looks_like_key(message) && session.stage != Stage::Finished {
        return on_pasted_key(session, message);
    }
    if words.is_any(&["start over", "restart setup", "reset"]) {
        let cancel = matches!(session.stage, Stage::LoggingIn { .. });
        *session = Session::default();
        let reply = ask_provider(session, context, "Let's start over.");
        return with_cancel(reply, cancel);
    }
    if words.is_any(&["cancel", "back", "stop"]) {
        if let Some(provider) = session.stage.provider() {
            let cancel = matches!(session.stage, Stage::LoggingIn { .. });
            let reply = if provider == Provider::Kimi {
                ask_provider(session, context, "Okay, cancelled.")
            } else {
                ask_method(session, provider, "Okay, cancelled.")
            };
            return with_cancel(reply, cancel);
        }
    }

    match session.stage.clone() {
        Stage::Welcome => {
            let hello = "Hi! I'm the claw.free setup assistant. Before your bot can think for itself, it needs an AI model. Let's connect one; it takes about a minute.";
            match context.preferred {
                Some(provider) if provider != Provider::Kimi => ask_method(
                    session,
                    provider,
                    &format!(
                        "{hello}\n\nYou picked {} on claw.free.",
                        provider.display_name()
                    ),
                ),
                Some(provider) => ask_key(session, provider, hello),
                None => ask_provider(session, context, hello),
            }
        }
        Stage::ChooseProvider => match words
            .numbered_choice(&provider_options(session, context))
            .or_else(|| words.provider(&remaining(session)))
        {
            Some(Provider::Kimi) => ask_key(session, Provider::Kimi, ""),
            Some(provider) => ask_method(session, provider, ""),
            None => ask_provider(session, context, "Sorry, I didn't get that."),
        },
        Stage::ChooseMethod { provider } => {
            if words.is_any(&["1", "subscription", "sign in", "signin", "login", "log in"]) {
                session.stage = Stage::LoggingIn {
                    provider,
                    url: None,
                    code: None,
                };
                Step::default().then(Action::StartLogin(provider))
            } else if words.is_any(&["2", "key", "api key", "apikey", "api"]) {
                ask_key(session, provider, "")
            } else {
                ask_method(session, provider, "Sorry, I didn't get that.")
            }
        }
        Stage::LoggingIn { provider, .. } => {
            if words.is_any(&["retry", "again", "new link", "try again"]) {
                return Step::say("Starting a new sign-in.").then(Action::StartLogin(provider));
            }
            match provider {
                Provider::Claude => {
                    let code = message.trim();
                    if code.is_empty() || code.len() > 1024 || code.contains(char::is_whitespace) {
                        Step::say("Please paste just the code that Claude showed you after signing in (or say `retry` for a new link, `cancel` to choose again).")
                    } else {
                        Step::default().then(Action::SendLoginCode(Secret::new(code.to_string())))
                    }
                }
                _ => Step::default().then(Action::CheckLogin),
            }
        }
        Stage::AwaitingKey { .. } => on_pasted_key(session, message),
        Stage::AddAnother => {
            // "No" first: "no, not openai" must not start connecting OpenAI.
            let no = [
                "no",
                "n",
                "nope",
                "done",
                "finish",
                "that's all",
                "thats all",
            ];
            if words.is_any(&no) {
                return finish(session);
            }
            match words.provider(&remaining(session)) {
                Some(Provider::Kimi) => ask_key(session, Provider::Kimi, ""),
                Some(provider) => ask_method(session, provider, ""),
                None if words.is_any(&["yes", "y", "yeah", "sure", "ok", "add", "another"]) => {
                    ask_provider(session, context, "")
                }
                None => Step::say(ask_another_text(session)),
            }
        }
        Stage::Finished => Step::say(finished_text(session)),
    }
}

fn on_pasted_key(session: &mut Session, message: &str) -> Step {
    let target = session.stage.provider();
    let owner = [Provider::Claude, Provider::Openai, Provider::Kimi]
        .into_iter()
        .find(|p| keys::parse_pasted(*p, message).is_ok());
    let provider = match (target, owner) {
        (Some(target), _) => target,
        (None, Some(owner)) => owner,
        (None, None) => return Step::default(),
    };
    match keys::parse_pasted(provider, message) {
        Ok(credential) => {
            // A sign-in still running for this provider is moot once a key arrives; the
            // edge stops it before it saves the credential.
            session.stage = Stage::AwaitingKey { provider };
            Step::default().then(Action::SaveCredential(credential))
        }
        Err(error) => Step::say(format!(
            "{} Paste it again, or say `back`.",
            error.explain(provider)
        )),
    }
}

fn on_outcome(session: &mut Session, event: Event) -> Step {
    let provider = session.stage.provider();
    match (event, provider) {
        (Event::LoginStarted { url, code }, Some(provider)) => {
            session.stage = Stage::LoggingIn {
                provider,
                url: Some(url.clone()),
                code: code.clone(),
            };
            Step::say(login_instructions(provider, &url, code.as_deref()))
        }
        (Event::LoginNotStarted { reason }, Some(provider)) => ask_method(
            session,
            provider,
            &format!("I couldn't start the sign-in: {reason}."),
        ),
        (Event::LoginPending, Some(provider)) => {
            let Stage::LoggingIn { url, code, .. } = &session.stage else {
                return Step::default();
            };
            let again = match url {
                Some(url) => login_instructions(provider, url, code.as_deref()),
                None => String::new(),
            };
            Step::say(format!(
                "I'm still waiting for the sign-in to complete. {again}"
            ))
        }
        (Event::LoginLost, Some(provider)) => Step::say(
            "The sign-in was interrupted (the setup service restarted), so here is a fresh one.",
        )
        .then(Action::StartLogin(provider)),
        (
            Event::LoginSucceeded {
                credential: Some(credential),
            },
            Some(_),
        ) => Step::default().then(Action::SaveCredential(credential)),
        (Event::LoginSucceeded { credential: None }, Some(provider)) => {
            connected(session, provider)
        }
        (Event::LoginFailed { reason }, Some(provider)) => ask_method(
            session,
            provider,
            &format!("The sign-in didn't work: {reason}."),
        ),
        (Event::CredentialSaved, Some(provider)) => connected(session, provider),
        (Event::CredentialRefused { reason }, Some(provider)) => ask_method(
            session,
            provider,
            &format!("OpenClaw couldn't store that credential: {reason}."),
        ),
        (Event::Finished, _) => {
            session.stage = Stage::Finished;
            Step::say(format!(
                "All set! {} Your bot restarts now to switch over: give it a minute, then just write to it as usual.",
                models_sentence(session)
            ))
        }
        (Event::FinishFailed { reason }, _) => Step::say(format!(
            "I couldn't switch OpenClaw over: {reason}. Say `finish` to try again."
        )),
        // An outcome that does not fit the stage (for example a login result after the
        // user cancelled): nothing to say.
        _ => Step::default(),
    }
}

fn with_cancel(step: Step, cancel: bool) -> Step {
    match (cancel, step.action) {
        (true, None) => Step {
            reply: step.reply,
            action: Some(Action::CancelLogin),
        },
        (_, action) => Step {
            reply: step.reply,
            action,
        },
    }
}

fn connected(session: &mut Session, provider: Provider) -> Step {
    if !session.connected.contains(&provider) {
        session.connected.push(provider);
    }
    session.stage = Stage::AddAnother;
    if remaining(session).is_empty() {
        return finish(session);
    }
    Step::say(format!(
        "{} is connected. {}",
        provider.display_name(),
        ask_another_text(session)
    ))
}

fn finish(session: &mut Session) -> Step {
    let Some((primary, alternatives)) = session.connected.split_first() else {
        session.stage = Stage::ChooseProvider;
        return Step::say("No provider is connected yet, so there is nothing to switch to. Which one shall we connect?");
    };
    session.stage = Stage::AddAnother;
    Step::default().then(Action::Finish {
        primary: *primary,
        alternatives: alternatives.to_vec(),
    })
}

fn remaining(session: &Session) -> Vec<Provider> {
    Provider::ALL
        .into_iter()
        .filter(|p| !session.connected.contains(p))
        .collect()
}

/// The providers still to connect, in the order they are offered (the one picked on
/// claw.free first).
fn provider_options(session: &Session, context: Context) -> Vec<Provider> {
    let mut options = remaining(session);
    if let Some(preferred) = context.preferred {
        options.sort_by_key(|p| *p != preferred);
    }
    options
}

#[cfg(test)]
mod tests;
