//! The first-boot test's harness: a Debian guest with systemd as PID 1 under QEMU
//! (TCG, so it runs wherever QEMU does, nested virtualization or not), carrying the
//! units the Nix modules render, the workspace's real agent and provider, and a
//! stand-in gateway; the simulator's metadata server is the only thing it can reach.
//!
//! - [`guest`]: the cached Debian root, what the modules render for the guest, and a
//!   bootable disk of both;
//! - [`vm`]: QEMU in its own process group (killed with everything it started when the
//!   test ends, however it ends) and the command channel into the guest;
//! - [`sim`]: the simulator and the VM record the guest's agent talks to.

pub mod guest;
pub mod sim;
pub mod vm;

use std::path::PathBuf;

/// The operating system's randomness, for the Worker's own encryption run natively
/// here (the Worker itself draws from Web Crypto through the same port).
pub struct OsRandom;

impl claw_free::ports::Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), claw_free::ports::PortError> {
        getrandom::fill(buf).map_err(|e| claw_free::ports::PortError(format!("randomness: {e}")))
    }
}

/// Where cached and per-run files live: the repository's ignored `.state/firstboot`.
pub fn state_dir() -> PathBuf {
    claw_free_testkit::workspace_root().join(".state/firstboot")
}
