//! What the conversation says: each question (setting the stage that waits for its
//! answer) and the sentences its replies are made of. The facts about a provider
//! come from its table ([`Provider::facts`]), never from here.

use claw_free_protocol::provider::Provider;

use super::{provider_options, remaining, Context, Session, Stage, Step};

pub(super) fn ask_provider(session: &mut Session, context: Context, preface: &str) -> Step {
    session.stage = Stage::ChooseProvider;
    let list: Vec<String> = provider_options(session, context)
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}. {}: {}", i + 1, p.as_str(), p.facts().blurb))
        .collect();
    Step::say(join(
        preface,
        &format!(
            "Which provider shall we connect? Reply with its number or name:\n{}",
            list.join("\n")
        ),
    ))
}

pub(super) fn ask_method(session: &mut Session, provider: Provider, preface: &str) -> Step {
    session.stage = Stage::ChooseMethod { provider };
    let facts = provider.facts();
    let Some(subscription) = &facts.subscription else {
        return ask_key(session, provider, preface);
    };
    Step::say(join(
        preface,
        &format!(
            "How do you want to connect {}?\n1. Sign in with {}\n2. Paste an API key (it starts with `{}`)\nReply 1 or 2.",
            facts.display_name, subscription.plan, facts.key_prefix
        ),
    ))
}

pub(super) fn ask_key(session: &mut Session, provider: Provider, preface: &str) -> Step {
    session.stage = Stage::AwaitingKey { provider };
    let facts = provider.facts();
    let note = if facts.key_note.is_empty() {
        String::new()
    } else {
        format!(" {}", facts.key_note)
    };
    Step::say(join(
        preface,
        &format!(
            "Paste your {} API key here (it starts with `{}`; create one at {}).{note} It is stored only on your VM and I will never show it again.",
            facts.display_name, facts.key_prefix, facts.key_url
        ),
    ))
}

pub(super) fn login_instructions(provider: Provider, url: &str, code: Option<&str>) -> String {
    match (provider, code) {
        (_, Some(code)) => format!(
            "Open {url} , sign in, and enter this code: {code}\nWhen the page says you're done, send me any message (for example `done`)."
        ),
        (_, None) => format!(
            "Open {url} , sign in, and paste here the code you get at the end."
        ),
    }
}

pub(super) fn ask_another_text(session: &Session) -> String {
    let names: Vec<&str> = remaining(session).iter().map(|p| p.as_str()).collect();
    format!(
        "Do you want to add another provider as a backup, for when this one is busy or out of quota ({})? Reply yes or no.",
        names.join(", ")
    )
}

pub(super) fn models_sentence(session: &Session) -> String {
    match session.connected.split_first() {
        Some((primary, [])) => format!("Your bot now uses {}.", primary.display_name()),
        Some((primary, rest)) => {
            let backups: Vec<&str> = rest.iter().map(|p| p.display_name()).collect();
            format!(
                "Your bot now uses {}, with {} as backup.",
                primary.display_name(),
                backups.join(" and ")
            )
        }
        None => String::new(),
    }
}

pub(super) fn finished_text(session: &Session) -> String {
    format!(
        "Setup is complete. {} If you still see this message, the bot is restarting: wait a minute and write again.",
        models_sentence(session)
    )
}

pub(super) fn join(preface: &str, text: &str) -> String {
    if preface.is_empty() {
        text.to_string()
    } else {
        format!("{preface}\n\n{text}")
    }
}
