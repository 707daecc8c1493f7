//! A restart of the provider in the middle of the conversation resumes it.

mod common;

use common::*;

#[test]
fn a_restart_while_waiting_for_the_key_resumes_there() {
    let mut provider = Provider::start_for("restart-key", "kimi");
    {
        let mut chat = Chat::new(&provider);
        assert!(chat.say("hi").contains("nvapi-"));
    }
    provider.restart();
    assert_eq!(provider.health()["stage"], "awaiting-key");
    let mut chat = Chat::new(&provider);
    let saved = chat.say(NVIDIA_KEY);
    assert!(saved.contains("Kimi (via NVIDIA) is connected"), "{saved}");
    assert_nowhere(&provider, &chat, &[NVIDIA_KEY]);
}

#[test]
fn a_restart_during_a_sign_in_starts_a_fresh_one_and_kills_the_old() {
    let mut provider = Provider::start_for("restart-login", "claude");
    let mut chat = Chat::new(&provider);
    assert!(chat.start_sign_in().contains("https://claude.ai/"));
    let old = provider.claude_pids();

    let messages = chat.messages.clone();
    drop(chat);
    provider.restart();
    wait_until_gone("the old sign-in to be gone", old);
    assert_eq!(provider.health()["stage"], "logging-in");
    let mut chat = Chat {
        provider: &provider,
        messages,
    };
    let fresh = chat.say("good-code");
    assert!(
        fresh.contains("interrupted") && fresh.contains("https://claude.ai/"),
        "{fresh}"
    );
    let done = chat.say("good-code");
    assert!(done.contains("Claude is connected"), "{done}");
    assert_nowhere(&provider, &chat, &[SETUP_TOKEN]);
}
