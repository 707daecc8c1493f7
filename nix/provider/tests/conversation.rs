//! The setup conversation end to end: the real provider binary, driven over HTTP like
//! OpenClaw drives it, with stand-in `claude`, `codex` and `openclaw` executables.

mod common;

use std::fs;

use claw_free_testkit::alive;
use common::*;
use serde_json::json;

fn gateway_restarted(provider: &Provider) -> bool {
    fs::read_to_string(provider.dir.path("gateway.log")).is_ok_and(|l| l.contains("restarted"))
}

#[test]
fn claude_subscription_sign_in_hands_the_token_to_openclaw_and_switches_over() {
    let provider = Provider::start_for("claude-ok", "claude");
    let mut chat = Chat::new(&provider);

    let hello = chat.say("hi");
    assert!(
        hello.contains("Claude") && hello.contains("1.") && hello.contains("2."),
        "{hello}"
    );
    let link = chat.say("1");
    assert!(
        link.contains("https://claude.ai/oauth/authorize?code=true&client_id=9d1c250a-e61b-44d9-88ed-5944d1962f5e&response_type=code&state=fixture"),
        "the wrapped link is shown whole: {link}"
    );
    assert_eq!(provider.health()["stage"], "logging-in");
    let pids = provider.claude_pids();

    let done = chat.say("good-code");
    assert!(done.contains("Claude is connected"), "{done}");
    assert_eq!(
        provider.openclaw_log(),
        format!("argv=models auth paste-token --provider anthropic stdin={SETUP_TOKEN}\n")
    );
    wait_until_gone("the sign-in's processes to end", pids);

    let finished = chat.say("no");
    assert!(
        finished.contains("All set") && finished.contains("Claude"),
        "{finished}"
    );
    let config = provider.openclaw_config();
    assert_eq!(
        config["agents"]["defaults"]["model"]["primary"],
        "anthropic/claude-opus-5"
    );
    assert!(
        config["models"]["providers"].get("claw-free").is_none(),
        "{config}"
    );
    assert_eq!(
        config["gateway"]["port"], 18789,
        "keys we do not own are kept"
    );
    wait_until("the gateway restart", DEADLINE, || {
        gateway_restarted(&provider)
    });
    assert_eq!(provider.health()["stage"], "finished");
    assert!(chat.say("are you there?").contains("Setup is complete"));
    assert_nowhere(&provider, &chat, &[SETUP_TOKEN]);
}

#[test]
fn a_refused_code_falls_back_to_an_api_key() {
    let provider = Provider::start_for("claude-bad", "claude");
    let mut chat = Chat::new(&provider);
    chat.say("hello");
    chat.say("1");
    let failed = chat.sign_in_fails("wrong-code", "Invalid code");
    assert!(
        failed.contains("API key"),
        "the fallback is offered: {failed}"
    );

    chat.say("2");
    chat.paste_wrong_key(NVIDIA_KEY, "NVIDIA");
    chat.paste_key(ANTHROPIC_KEY, "Claude is connected", "anthropic");
    assert_nowhere(&provider, &chat, &[ANTHROPIC_KEY, NVIDIA_KEY]);
}

#[test]
fn codex_device_sign_in_is_noticed_when_it_completes_then_kimi_is_added() {
    let provider = Provider::start_for("codex", "openai");
    let mut chat = Chat::new(&provider);
    let link = chat.start_sign_in();
    assert!(
        link.contains("https://auth.openai.com/codex/device") && link.contains("FXT7-2QK9M"),
        "{link}"
    );

    let waiting = chat.say("done");
    assert!(
        waiting.contains("still waiting") && waiting.contains("FXT7-2QK9M"),
        "{waiting}"
    );
    fs::write(provider.dir.path("codex/approved"), "").unwrap();
    let connected = chat.say("done now");
    assert!(connected.contains("OpenAI is connected"), "{connected}");
    assert_eq!(provider.openclaw_log(), "", "Codex keeps its own login");

    let which = chat.say("yes");
    assert!(
        which.contains("kimi") && which.contains("claude") && !which.contains(". openai:"),
        "{which}"
    );
    let ask_key = chat.say("kimi");
    assert!(ask_key.contains("nvapi-"), "{ask_key}");
    chat.paste_wrong_key(OPENAI_KEY, "OpenAI key");
    chat.paste_key(NVIDIA_KEY, "is connected", "nvidia");
    chat.say("no");
    let config = provider.openclaw_config();
    assert_eq!(
        config["agents"]["defaults"]["model"],
        json!({"primary": "openai/gpt-5.5", "fallbacks": ["openai/gpt-5.4-mini", "nvidia/moonshotai/kimi-k2.5"]})
    );
    assert_eq!(
        config["models"]["providers"]["nvidia"]["baseUrl"],
        "https://integrate.api.nvidia.com/v1"
    );
    assert_nowhere(&provider, &chat, &[NVIDIA_KEY, OPENAI_KEY]);
}

#[test]
fn a_denied_device_sign_in_is_reported() {
    let provider = Provider::start_for("codex-denied", "openai");
    let mut chat = Chat::new(&provider);
    chat.start_sign_in();
    fs::write(provider.dir.path("codex/denied"), "").unwrap();
    chat.sign_in_fails("done", "access denied");
}

#[test]
fn a_sign_in_past_its_timeout_is_killed_with_its_whole_group() {
    let provider = Provider::start(
        "timeout",
        Options {
            login_timeout_secs: 1,
            ..Options::with_env("claude", "CLAUDE_FIXTURE_MODE", "hang")
        },
    );
    let mut chat = Chat::new(&provider);
    assert!(chat.start_sign_in().contains("https://claude.ai/"));
    let pids = provider.claude_pids();
    assert_eq!(pids.len(), 2);
    for pid in &pids {
        assert!(alive(*pid));
    }
    wait_until_gone("the timed-out sign-in to be killed", pids);
    assert!(provider.log().contains("timed out"), "{}", provider.log());
    let reply = chat.say("some-code");
    assert!(reply.contains("timed out"), "{reply}");
    assert_eq!(provider.health()["stage"], "choose-method");
}

#[test]
fn a_cli_that_prints_no_link_is_reported_and_the_key_is_offered() {
    let provider = Provider::start_with_env("nolink", "claude", "CLAUDE_FIXTURE_MODE", "nolink");
    let mut chat = Chat::new(&provider);
    let reply = chat.start_sign_in();
    assert!(
        reply.contains("couldn't start") && reply.contains("could not reach claude.ai"),
        "{reply}"
    );
    assert!(reply.contains("API key"), "{reply}");
}

#[test]
fn a_credential_openclaw_refuses_is_reported_without_the_key() {
    let provider = Provider::start_with_env("refused", "kimi", "OPENCLAW_FIXTURE_FAIL", "1");
    let mut chat = Chat::new(&provider);
    assert!(chat.say("hi").contains("nvapi-"));
    let reply = chat.say(NVIDIA_KEY);
    assert!(
        reply.contains("couldn't store") && reply.contains("credential rejected"),
        "{reply}"
    );
    assert_nowhere(&provider, &chat, &[NVIDIA_KEY]);
}

#[test]
fn shutting_down_kills_a_running_sign_in() {
    let mut provider = Provider::start_for("shutdown", "claude");
    let mut chat = Chat::new(&provider);
    chat.start_sign_in();
    let pids = provider.claude_pids();
    drop(chat);
    provider.stop();
    wait_until_gone("the sign-in to die with the provider", pids);
}

#[test]
fn a_retried_request_is_answered_again_not_taken_twice() {
    let provider = Provider::start_for("retry", "claude");
    let mut chat = Chat::new(&provider);
    chat.say("hi");
    chat.messages.push(json!({"role": "user", "content": "2"}));
    let body = json!({"model": "setup", "messages": chat.messages}).to_string();
    let first = request(
        &provider.address,
        "POST",
        "/v1/chat/completions",
        Some(&body),
    )
    .1;
    let second = request(
        &provider.address,
        "POST",
        "/v1/chat/completions",
        Some(&body),
    )
    .1;
    assert_eq!(
        first["choices"][0]["message"]["content"],
        second["choices"][0]["message"]["content"]
    );
    assert_eq!(provider.health()["stage"], "awaiting-key");
}
