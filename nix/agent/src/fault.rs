//! A fault hook for the crash tests: with `CLAWFREE_AGENT_CRASH_AT=<step>` in its
//! environment, setup aborts the process just before that step, as a power cut or an
//! OOM kill would, so tests can prove that a rerun converges. Steps are the names of
//! [`crate::setup::Step`]. Nothing sets this variable outside tests.

/// The variable that names the step to crash at.
pub const CRASH_AT_ENV: &str = "CLAWFREE_AGENT_CRASH_AT";

/// Aborts (no unwinding, no cleanup) when the environment asks to crash at `step`.
pub fn crash_point(step: &str) {
    if std::env::var(CRASH_AT_ENV).is_ok_and(|wanted| wanted == step) {
        crate::log::event(
            "setup",
            &format!("crashing before step {step} ({CRASH_AT_ENV})"),
        );
        std::process::abort();
    }
}
