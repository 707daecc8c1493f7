use super::*;
use crate::keys::CredentialKind;

const NV_KEY: &str = "nvapi-abcdefghijklmnopqrstuvwxyz0123";
const ANT_KEY: &str = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123";

fn user(session: &mut Session, context: Context, text: &str) -> Step {
    step(session, context, Event::User(text.to_string()))
}

fn claude() -> Context {
    Context {
        preferred: Some(Provider::Claude),
    }
}

/// A session where the user, offered Claude, picked its subscription sign-in.
fn signing_in_to_claude() -> Session {
    let mut s = Session::default();
    user(&mut s, claude(), "hi");
    user(&mut s, claude(), "1");
    s
}

/// A session with `connected` done, asked whether to add another provider.
fn adding_another(connected: Vec<Provider>) -> Session {
    Session {
        stage: Stage::AddAnother,
        connected,
    }
}

#[test]
fn welcome_offers_the_provider_picked_on_the_site() {
    let mut s = Session::default();
    let out = user(&mut s, claude(), "hi");
    assert!(out.reply.contains("Claude"), "{}", out.reply);
    assert_eq!(
        s.stage,
        Stage::ChooseMethod {
            provider: Provider::Claude
        }
    );
    assert!(out.action.is_none());
}

#[test]
fn kimi_goes_straight_to_the_key() {
    let mut s = Session::default();
    let out = user(
        &mut s,
        Context {
            preferred: Some(Provider::Kimi),
        },
        "hello",
    );
    assert_eq!(
        s.stage,
        Stage::AwaitingKey {
            provider: Provider::Kimi
        }
    );
    assert!(out.reply.contains("nvapi-"));
    assert!(out.reply.contains("build.nvidia.com"));
}

#[test]
fn without_a_preference_it_asks_which_provider() {
    let mut s = Session::default();
    user(&mut s, Context::default(), "hi");
    assert_eq!(s.stage, Stage::ChooseProvider);
    user(&mut s, Context::default(), "OpenAI please");
    assert_eq!(
        s.stage,
        Stage::ChooseMethod {
            provider: Provider::Openai
        }
    );
}

#[test]
fn subscription_login_for_claude_shows_the_url_then_sends_the_code() {
    let mut s = Session::default();
    user(&mut s, claude(), "hi");
    let out = user(&mut s, claude(), "1");
    assert_eq!(out.action, Some(Action::StartLogin(Provider::Claude)));
    let out = step(
        &mut s,
        claude(),
        Event::LoginStarted {
            url: "https://claude.ai/oauth?x=1".into(),
            code: None,
        },
    );
    assert!(out.reply.contains("https://claude.ai/oauth?x=1"));
    let out = user(&mut s, claude(), "  abc123#state  ");
    assert_eq!(
        out.action,
        Some(Action::SendLoginCode(Secret::new("abc123#state".into())))
    );
    let token =
        crate::keys::parse_pasted(Provider::Claude, "sk-ant-oat01-abcdefghijklmnopqrstuvwxyz")
            .unwrap();
    let out = step(
        &mut s,
        claude(),
        Event::LoginSucceeded {
            credential: Some(token.clone()),
        },
    );
    assert_eq!(out.action, Some(Action::SaveCredential(token)));
    let out = step(&mut s, claude(), Event::CredentialSaved);
    assert_eq!(s.stage, Stage::AddAnother);
    assert_eq!(s.connected, vec![Provider::Claude]);
    assert!(out.reply.contains("backup"));
}

#[test]
fn device_login_waits_for_completion_and_repeats_the_code() {
    let ctx = Context {
        preferred: Some(Provider::Openai),
    };
    let mut s = Session::default();
    user(&mut s, ctx, "hi");
    user(&mut s, ctx, "sign in");
    let out = step(
        &mut s,
        ctx,
        Event::LoginStarted {
            url: "https://auth.openai.com/codex/device".into(),
            code: Some("ABCD-1234".into()),
        },
    );
    assert!(out.reply.contains("ABCD-1234"));
    let out = user(&mut s, ctx, "done");
    assert_eq!(out.action, Some(Action::CheckLogin));
    let out = step(&mut s, ctx, Event::LoginPending);
    assert!(out.reply.contains("ABCD-1234") && out.reply.contains("still waiting"));
    let out = step(&mut s, ctx, Event::LoginSucceeded { credential: None });
    assert_eq!(s.connected, vec![Provider::Openai]);
    assert!(out.reply.contains("OpenAI is connected"));
}

#[test]
fn a_failed_login_offers_the_api_key_fallback() {
    let mut s = signing_in_to_claude();
    let out = step(
        &mut s,
        claude(),
        Event::LoginFailed {
            reason: "the code was refused".into(),
        },
    );
    assert_eq!(
        s.stage,
        Stage::ChooseMethod {
            provider: Provider::Claude
        }
    );
    assert!(out.reply.contains("the code was refused") && out.reply.contains("API key"));
    user(&mut s, claude(), "2");
    let out = user(&mut s, claude(), ANT_KEY);
    match out.action {
        Some(Action::SaveCredential(c)) => {
            assert_eq!(
                (c.provider, c.kind),
                (Provider::Claude, CredentialKind::ApiKey)
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_wrong_key_is_refused_without_echo() {
    let mut s = Session::default();
    user(
        &mut s,
        Context {
            preferred: Some(Provider::Kimi),
        },
        "hi",
    );
    let out = user(&mut s, Context::default(), ANT_KEY);
    assert!(out.action.is_none());
    assert!(out.reply.contains("Claude") && out.reply.contains("Kimi"));
    assert!(!out.reply.contains(ANT_KEY));
    let out = user(&mut s, Context::default(), "nvapi-short");
    assert!(out.action.is_none() && !out.reply.contains("nvapi-short"));
}

#[test]
fn a_key_pasted_while_signing_in_is_taken_for_the_provider_being_connected() {
    let mut s = Session::default();
    user(&mut s, claude(), "hi");
    user(&mut s, claude(), "1");
    let out = user(&mut s, claude(), ANT_KEY);
    assert!(matches!(out.action, Some(Action::SaveCredential(_))));
    assert_eq!(
        s.stage,
        Stage::AwaitingKey {
            provider: Provider::Claude
        }
    );
}

#[test]
fn add_another_then_finish_with_primary_and_alternatives() {
    let mut s = adding_another(vec![Provider::Claude]);
    user(&mut s, claude(), "yes");
    assert_eq!(s.stage, Stage::ChooseProvider);
    user(&mut s, claude(), "kimi");
    let out = user(&mut s, claude(), NV_KEY);
    assert!(matches!(out.action, Some(Action::SaveCredential(_))));
    step(&mut s, claude(), Event::CredentialSaved);
    let out = user(&mut s, claude(), "no thanks");
    assert_eq!(
        out.action,
        Some(Action::Finish {
            primary: Provider::Claude,
            alternatives: vec![Provider::Kimi]
        })
    );
    let out = step(&mut s, claude(), Event::Finished);
    assert_eq!(s.stage, Stage::Finished);
    assert!(out.reply.contains("Claude") && out.reply.contains("Kimi"));
    let out = user(&mut s, claude(), "hello?");
    assert!(out.reply.contains("Setup is complete"));
    assert!(out.action.is_none());
}

#[test]
fn no_wins_over_a_provider_named_in_the_same_answer() {
    let mut s = adding_another(vec![Provider::Kimi]);
    let out = user(&mut s, claude(), "no, not openai");
    assert!(matches!(out.action, Some(Action::Finish { .. })));
    let mut s = adding_another(vec![Provider::Kimi]);
    user(&mut s, claude(), "yes, openai");
    assert_eq!(
        s.stage,
        Stage::ChooseMethod {
            provider: Provider::Openai
        }
    );
}

#[test]
fn connecting_all_three_finishes_without_asking() {
    let mut s = Session {
        stage: Stage::AwaitingKey {
            provider: Provider::Kimi,
        },
        connected: vec![Provider::Claude, Provider::Openai],
    };
    let out = step(&mut s, claude(), Event::CredentialSaved);
    assert_eq!(
        out.action,
        Some(Action::Finish {
            primary: Provider::Claude,
            alternatives: vec![Provider::Openai, Provider::Kimi]
        })
    );
}

#[test]
fn cancel_stops_the_login_and_goes_back() {
    let mut s = signing_in_to_claude();
    let out = user(&mut s, claude(), "cancel");
    assert_eq!(out.action, Some(Action::CancelLogin));
    assert_eq!(
        s.stage,
        Stage::ChooseMethod {
            provider: Provider::Claude
        }
    );
}

#[test]
fn a_lost_login_after_restart_is_started_again() {
    let mut s = Session {
        stage: Stage::LoggingIn {
            provider: Provider::Claude,
            url: Some("u".into()),
            code: None,
        },
        connected: vec![],
    };
    let out = step(&mut s, claude(), Event::LoginLost);
    assert_eq!(out.action, Some(Action::StartLogin(Provider::Claude)));
}

#[test]
fn finish_failure_keeps_the_answer_retryable() {
    let mut s = adding_another(vec![Provider::Kimi]);
    user(&mut s, claude(), "no");
    let out = step(
        &mut s,
        claude(),
        Event::FinishFailed {
            reason: "disk full".into(),
        },
    );
    assert!(out.reply.contains("disk full"));
    let out = user(&mut s, claude(), "finish");
    assert!(matches!(out.action, Some(Action::Finish { .. })));
}

#[test]
fn the_session_round_trips_through_json_without_secrets() {
    let s = Session {
        stage: Stage::LoggingIn {
            provider: Provider::Openai,
            url: Some("https://x".into()),
            code: Some("C".into()),
        },
        connected: vec![Provider::Kimi],
    };
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("\"stage\":\"logging-in\""), "{json}");
    assert_eq!(serde_json::from_str::<Session>(&json).unwrap(), s);
}
