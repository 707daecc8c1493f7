//! The journey to an answer, in the whole local stack (the Worker under wrangler dev,
//! the simulator, the real VM agent) with the real OpenClaw gateway and the claw.free
//! Setup model on the VM: after `done`, the owner's message gets the setup
//! conversation, the owner pastes an NVIDIA key, and the next message is answered by
//! Kimi (the simulator's NVIDIA API) through the gateway. A stranger gets nothing.
//!
//! It runs in a network namespace with only loopback (`claw_free_testkit::netns`).

mod deploy_support;

use claw_free_it::{start_body, Stack, StackOptions, TELEGRAM_TOKEN};
use claw_free_testkit::netns::inside_own_network;
use claw_free_testkit::telegram::Telegram;
use deploy_support::follow_to_done;
use serde_json::{json, Value};
use std::time::Duration;

const OWNER: u64 = 4242;
const STRANGER: u64 = 9999;

fn log(stack: &Stack, name: &str) -> String {
    deploy_support::files_named(&stack.state_dir, name).join("\n")
}

#[test]
fn after_ready_the_owner_sets_up_kimi_in_the_chat_and_kimi_answers() {
    if !inside_own_network("after_ready_the_owner_sets_up_kimi_in_the_chat_and_kimi_answers") {
        return;
    }
    let stack = Stack::start(StackOptions {
        real_gateway: true,
        ..StackOptions::default()
    });
    let telegram = Telegram::new(TELEGRAM_TOKEN, |path, body| stack.admin(path, body));
    telegram.add_bot("ada_claw_bot");
    let client = stack.client().signed_in();
    let mut body: Value = start_body("claw-demo", "Ada Bot");
    body["telegramUserId"] = json!(OWNER);
    let reply = client.post("/api/deploy/start", body);
    assert_eq!(reply.status, 200, "start: {}", reply.text);
    let id = reply.json["deploymentId"].as_str().unwrap().to_string();
    let followed = follow_to_done(&stack, &client, &id, Duration::from_secs(300));
    assert_eq!(
        followed.last["status"],
        "done",
        "{}\n{}",
        followed.last,
        log(&stack, "openclaw-gateway.log")
    );

    telegram.say(STRANGER, "hello?");
    let mut owner = telegram.conversation(OWNER);
    let asked = owner.turn("hi");
    assert!(
        asked.iter().any(|t| t.contains("build.nvidia.com")),
        "the Setup model did not ask for the NVIDIA key: {asked:?}"
    );
    owner.turn("nvapi-SimulatedKey0123456789abcdefXYZ");
    let finished = owner.turn("no");
    assert!(
        finished.iter().any(|t| t.contains("Kimi")),
        "setup did not finish with Kimi: {finished:?}"
    );
    // The Setup model restarts the gateway through the agent's command; the new one
    // starts polling again before the owner writes.
    let restarted = claw_free_it::wait_for(
        "the gateway restarted on Kimi",
        Duration::from_secs(180),
        || {
            let gateway_log = log(&stack, "openclaw-gateway.log");
            (gateway_log.contains("agent model: nvidia/moonshotai/kimi-k2.5")
                && gateway_log.contains("[telegram] [default] starting provider"))
            .then_some(gateway_log)
        },
    );
    let answer = owner.turn("what is a lobster?");
    assert!(
        answer
            .iter()
            .any(|t| t.contains("(simulated) heard you say: what is a lobster?")),
        "the answer is not Kimi's: {answer:?}\n{restarted}"
    );
    assert_eq!(
        telegram.sent_to(STRANGER),
        Vec::<String>::new(),
        "a stranger got an answer"
    );
    assert_eq!(stack.admin_get("telegram/unknown-methods"), json!([]));
}
