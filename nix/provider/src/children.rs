//! Child processes that cannot leak: each runs in its own process group, dies with us
//! (`PR_SET_PDEATHSIG`), has a deadline, and is killed as a whole group (grandchildren
//! included) on timeout, on cancel, on drop and on shutdown. Its stdout and stderr are
//! collected (bounded) for the caller to parse; they are never logged here.

use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use claw_free_protocol::provider::Provider;

/// The most output kept per child; sign-in commands print a few lines.
const MAX_OUTPUT: usize = 64 * 1024;

#[derive(Default)]
struct Captured {
    text: String,
    open_streams: u8,
}

/// The collected output of a child, shared with its reader threads.
#[derive(Default)]
struct Output {
    captured: Mutex<Captured>,
    changed: Condvar,
}

impl Output {
    fn lock(&self) -> std::sync::MutexGuard<'_, Captured> {
        // A reader thread cannot panic while holding the lock, but a poisoned lock
        // still holds valid text.
        self.captured.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The user a child runs as (the gateway's, so that the logins and auth profiles it
/// writes belong to OpenClaw and not to root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// Looks a user up by name in the system's user database.
    pub fn user(name: &str) -> Result<Self, String> {
        let c_name = std::ffi::CString::new(name).map_err(|_| format!("bad user name {name:?}"))?;
        let mut buf = vec![0 as libc::c_char; 16 * 1024];
        // SAFETY: getpwnam_r writes into `pwd` and `buf`, both ours and large enough
        // (it reports ERANGE otherwise); `result` points into them or is null.
        unsafe {
            let mut pwd: libc::passwd = std::mem::zeroed();
            let mut result: *mut libc::passwd = std::ptr::null_mut();
            let rc = libc::getpwnam_r(
                c_name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            );
            if rc != 0 || result.is_null() {
                return Err(format!("no user named {name:?} on this system"));
            }
            Ok(Self {
                uid: pwd.pw_uid,
                gid: pwd.pw_gid,
            })
        }
    }
}

pub struct Child {
    process: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    output: Arc<Output>,
    deadline: Instant,
    status: Option<ExitStatus>,
}

impl Child {
    /// Starts `program args...` in a new process group, with piped stdio.
    pub fn spawn(program: &Path, args: &[&str], timeout: Duration) -> io::Result<Self> {
        Self::spawn_as(program, args, timeout, None)
    }

    /// Like [`Child::spawn`], as another user when `run_as` is given.
    pub fn spawn_as(
        program: &Path,
        args: &[&str],
        timeout: Duration,
        run_as: Option<RunAs>,
    ) -> io::Result<Self> {
        let mut command = Command::new(program);
        if let Some(user) = run_as {
            // std also drops root's supplementary groups when it switches users.
            command.uid(user.uid).gid(user.gid);
        }
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Plain text is easier to parse than a colourful TUI.
            .env("NO_COLOR", "1")
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut process = command.spawn()?;
        let output = Arc::new(Output::default());
        output.lock().open_streams = 2;
        if let Some(stdout) = process.stdout.take() {
            collect(stdout, Arc::clone(&output));
        }
        if let Some(stderr) = process.stderr.take() {
            collect(stderr, Arc::clone(&output));
        }
        Ok(Self {
            stdin: process.stdin.take(),
            process,
            output,
            deadline: Instant::now() + timeout,
            status: None,
        })
    }

    /// Everything the child printed so far (stdout and stderr interleaved).
    pub fn output(&self) -> String {
        self.output.lock().text.clone()
    }

    /// Waits until `found` recognises something in the output, the child closes its
    /// output, or `wait` passes.
    pub fn wait_for_output<T>(
        &self,
        wait: Duration,
        found: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let until = Instant::now() + wait;
        let mut captured = self.output.lock();
        loop {
            if let Some(value) = found(&captured.text) {
                return Some(value);
            }
            let now = Instant::now();
            if captured.open_streams == 0 || now >= until {
                return None;
            }
            captured = self
                .output
                .changed
                .wait_timeout(captured, until - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Waits until the child has printed nothing new for `quiet` (or closed its output,
    /// or `max` passed), so that a line that arrives in pieces is read whole.
    pub fn wait_for_quiet(&self, quiet: Duration, max: Duration) {
        let until = Instant::now() + max;
        let mut captured = self.output.lock();
        loop {
            let seen = captured.text.len();
            let now = Instant::now();
            if captured.open_streams == 0 || now >= until {
                return;
            }
            let wait = quiet.min(until - now);
            let (next, timeout) = self
                .output
                .changed
                .wait_timeout_while(captured, wait, |c| {
                    c.text.len() == seen && c.open_streams > 0
                })
                .unwrap_or_else(|p| p.into_inner());
            captured = next;
            if timeout.timed_out() {
                return;
            }
        }
    }

    /// Writes to the child's stdin (a code, a token) and flushes it.
    pub fn write_stdin(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "stdin is closed"))?;
        stdin.write_all(bytes)?;
        stdin.flush()
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The exit status, if the child has exited. The group is killed before the child
    /// is reaped, so that its id cannot have been reused when the group is signalled,
    /// and no grandchild outlives it.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() && self.has_exited() {
            self.kill();
        }
        self.status
    }

    /// True when the child has exited, without reaping it.
    fn has_exited(&self) -> bool {
        // SAFETY: siginfo_t is plain data; waitid with WNOWAIT only inspects our child.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
            libc::waitid(libc::P_PID, self.process.id(), &mut info, flags) == 0
                && info.si_pid() != 0
        }
    }

    /// Waits up to `wait` for the child to exit, and for its output to be collected.
    pub fn wait_exit(&mut self, wait: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + wait;
        loop {
            if let Some(status) = self.try_status() {
                // The pipes close right after exit unless a grandchild holds them.
                self.wait_for_output(Duration::from_millis(200), |_| None::<()>);
                return Some(status);
            }
            if Instant::now() >= until {
                return None;
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Kills the whole process group and reaps the child (once).
    pub fn kill(&mut self) {
        self.stdin = None;
        if self.status.is_some() {
            return;
        }
        let pgid = self.process.id() as libc::pid_t;
        // SAFETY: plain syscall. The group id is our child's pid, which is not reaped
        // yet, so it cannot name anyone else's group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        self.status = self.process.wait().ok();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

fn collect(mut stream: impl Read + Send + 'static, output: Arc<Output>) {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut captured = output.lock();
                    if captured.text.len() < MAX_OUTPUT {
                        captured.text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                    drop(captured);
                    output.changed.notify_all();
                }
            }
        }
        output.lock().open_streams -= 1;
        output.changed.notify_all();
    });
}

/// The outcome of [`run`].
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub output: String,
}

/// Runs a command to completion with `input` on its stdin, killing it (and its group)
/// after `timeout`.
pub fn run(
    program: &Path,
    args: &[&str],
    input: &[u8],
    timeout: Duration,
) -> Result<Finished, String> {
    run_as(program, args, input, timeout, None)
}

/// Like [`run`], as another user when `user` is given.
pub fn run_as(
    program: &Path,
    args: &[&str],
    input: &[u8],
    timeout: Duration,
    user: Option<RunAs>,
) -> Result<Finished, String> {
    let name = program.display();
    let mut child = Child::spawn_as(program, args, timeout, user)
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    if !input.is_empty() {
        // A command that exits without reading its input is judged by its status.
        let _ = child.write_stdin(input);
    }
    child.close_stdin();
    match child.wait_exit(timeout) {
        Some(status) => Ok(Finished {
            status,
            output: child.output(),
        }),
        None => {
            child.kill();
            Err(format!(
                "{name} did not finish within {} s",
                timeout.as_secs()
            ))
        }
    }
}

/// The last meaningful line of a command's output, for an error message, with
/// anything key-like blanked out.
pub fn last_line(output: &str) -> String {
    let line = strip_ansi(output)
        .lines()
        .map(str::trim)
        .rev()
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string();
    let words: Vec<String> = line
        .split(' ')
        .map(|w| {
            let key_like = Provider::ALL
                .iter()
                .any(|p| w.contains(p.facts().key_prefix));
            if key_like || w.len() > 60 {
                "[redacted]".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    let line = words.join(" ");
    line.chars().take(200).collect()
}

/// Removes terminal escape sequences (colours, cursor moves) from CLI output.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('[') => {
                chars.next();
                // CSI: parameters until a final byte in @..~
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                // OSC (hyperlinks): until BEL or ESC \
                chars.next();
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {
                chars.next();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use claw_free_testkit::alive;

    fn sh(script: &str, timeout: Duration) -> Child {
        Child::spawn(Path::new("/bin/sh"), &["-c", script], timeout).unwrap()
    }

    #[test]
    fn collects_output_and_stdin_round_trips() {
        let mut child = sh(
            "echo ready; read x; echo got-$x >&2",
            Duration::from_secs(10),
        );
        assert_eq!(
            child.wait_for_output(Duration::from_secs(5), |t| t
                .contains("ready")
                .then_some(())),
            Some(())
        );
        child.write_stdin(b"42\n").unwrap();
        assert!(child.wait_exit(Duration::from_secs(5)).unwrap().success());
        assert!(child.output().contains("got-42"));
    }

    #[test]
    fn kill_takes_the_grandchildren_too() {
        let mut child = sh("sleep 30 & echo $!; wait", Duration::from_secs(10));
        let grandchild: i32 = child
            .wait_for_output(Duration::from_secs(5), |t| t.trim().parse().ok())
            .unwrap();
        assert!(alive(grandchild));
        child.kill();
        let until = Instant::now() + Duration::from_secs(5);
        while alive(grandchild) && Instant::now() < until {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(grandchild), "the grandchild {grandchild} survived");
    }

    #[test]
    fn run_times_out_and_reports_it() {
        let err = run(
            Path::new("/bin/sleep"),
            &["5"],
            b"",
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(err.contains("did not finish"), "{err}");
        let done = run(Path::new("/bin/cat"), &[], b"hello", Duration::from_secs(5)).unwrap();
        assert_eq!(done.output, "hello");
    }

    #[test]
    fn a_missing_program_is_an_error_not_a_panic() {
        assert!(run(
            Path::new("/nonexistent/x"),
            &[],
            b"",
            Duration::from_secs(1)
        )
        .is_err());
    }

    #[test]
    fn runs_as_another_user() {
        let nobody = RunAs::user("nobody").expect("the nobody user exists");
        let result = run_as(
            Path::new("/usr/bin/id"),
            &["-u"],
            b"",
            Duration::from_secs(5),
            Some(nobody),
        );
        // SAFETY: plain getter.
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!(result.unwrap().output.trim(), nobody.uid.to_string());
        } else {
            // Only root may switch users: the refusal is an error, not a panic.
            assert!(result.is_err());
        }
        assert!(RunAs::user("no-such-user-here").is_err());
    }

    #[test]
    fn last_line_strips_colours_and_keys() {
        let out = "ok\n\u{1b}[31mError: invalid key sk-ant-api03-xyz\u{1b}[0m\n\n";
        assert_eq!(last_line(out), "Error: invalid key [redacted]");
    }
}
