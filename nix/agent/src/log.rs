//! The agent's log: one line per event on stderr, which systemd forwards to the VM's
//! serial console (and the simulator shows as that console).
//!
//! Callers pass only facts that are safe to show anyone who can read the console:
//! never a secret's value and never its ciphertext.

use std::io::Write;

/// Writes `clawfree-agent <component>: <message>` as a single line.
pub fn event(component: &str, message: &str) {
    // A failed write to stderr has nowhere better to be reported.
    let _ = writeln!(
        std::io::stderr().lock(),
        "clawfree-agent {component}: {}",
        one_line(message)
    );
}

/// `text` with every control character (line breaks included) made a space, so it
/// cannot forge a second line.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
