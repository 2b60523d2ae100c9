//! The processes of a run: spawned with piped stdout, whose status lines are read with a
//! deadline, and killed when dropped.
//!
//! Every process the harness starts prints `Label  value` lines on stdout once it is ready
//! (the format of `ferrotunnel-cli/src/banner.rs`), so waiting for readiness means waiting for a
//! line, never sleeping. Stderr is drained all the time (a chatty child would block on a full
//! pipe) and its last lines are kept for error messages. Stdin stays piped and open: the local
//! service exits when it closes, so no child outlives a harness that crashed.

use std::{
    collections::VecDeque,
    io::{BufRead as _, BufReader},
    process::{Child, ChildStdin, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

/// Stderr lines kept for error messages.
const STDERR_TAIL: usize = 40;
/// Lines kept for [`ChildProcess::value_of`] (stdout) and [`ChildProcess::wait_for_text`]
/// (either stream); later ones are dropped until some are read, so a child that logs every
/// request cannot grow the harness.
const ANY_LINES: usize = 4096;

/// A running child process.
#[derive(Debug)]
pub(crate) struct ChildProcess {
    name: String,
    child: Child,
    /// Held only so that the child's stdin stays open until the child is stopped.
    _stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// Lines from stdout and stderr alike, for programs that log their readiness.
    any_lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// When `spawn` was called, for start-up times.
    started: Instant,
}

impl ChildProcess {
    /// Spawns `command` with piped stdio.
    pub(crate) fn spawn(name: impl Into<String>, mut command: Command) -> anyhow::Result<Self> {
        let name = name.into();
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {name} ({command:?})"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("stdout is not piped")?;
        let stderr = child.stderr.take().context("stderr is not piped")?;

        let (sender, lines) = mpsc::sync_channel(ANY_LINES);
        let (any_sender, any_lines) = mpsc::sync_channel(ANY_LINES);
        let any_stdout = any_sender.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = any_stdout.try_send(line.clone());
                if let Err(mpsc::TrySendError::Disconnected(_)) = sender.try_send(line) {
                    break;
                }
            }
        });
        let stderr_tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL)));
        let tail = stderr_tail.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = any_sender.try_send(line.clone());
                let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
                if tail.len() == STDERR_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        Ok(Self {
            name,
            child,
            _stdin: stdin,
            lines,
            any_lines,
            seen: Vec::new(),
            stderr_tail,
            started,
        })
    }

    /// The process id, for `/proc/<pid>/status`.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// When the process was spawned.
    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// Reads stdout until a line `label  value` and returns the value, or fails after `wait`
    /// or when the process exits first.
    /// A line already read counts, so labels may be asked for in any order.
    pub(crate) fn value_of(&mut self, label: &str, wait: Duration) -> anyhow::Result<String> {
        let labelled = |line: &str| {
            line.strip_prefix(label)
                .filter(|rest| rest.starts_with("  "))
                .map(|rest| rest.trim().to_owned())
        };
        if let Some(value) = self.seen.iter().find_map(|line| labelled(line)) {
            return Ok(value);
        }
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let value = labelled(&line);
                    self.seen.push(line);
                    if let Some(value) = value {
                        return Ok(value);
                    }
                }
                Err(err) => {
                    let why = match err {
                        mpsc::RecvTimeoutError::Timeout => format!("nothing within {wait:?}"),
                        mpsc::RecvTimeoutError::Disconnected => "it exited".to_owned(),
                    };
                    bail!(
                        "{} printed no {label:?} line ({why}); stdout: {:?}; last stderr lines:\n{}",
                        self.name,
                        self.seen,
                        self.stderr_tail()
                    );
                }
            }
        }
    }

    /// Reads stdout and stderr until a line that contains `needle`, and returns it; fails
    /// after `wait` or when the process has closed both.
    pub(crate) fn wait_for_text(&mut self, needle: &str, wait: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.any_lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Ok(line),
                Ok(_) => {}
                Err(err) => {
                    let why = match err {
                        mpsc::RecvTimeoutError::Timeout => format!("nothing within {wait:?}"),
                        mpsc::RecvTimeoutError::Disconnected => "it exited".to_owned(),
                    };
                    bail!(
                        "{} wrote no line with {needle:?} ({why}); last stderr lines:\n{}",
                        self.name,
                        self.stderr_tail()
                    );
                }
            }
        }
    }

    /// Fails if the process has exited, naming its status and last stderr lines.
    pub(crate) fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!(
                "{} exited ({status}); last stderr lines:\n{}",
                self.name,
                self.stderr_tail()
            ),
            Err(err) => Err(err).with_context(|| format!("cannot check on {}", self.name)),
        }
    }

    /// The last lines the process wrote to stderr.
    pub(crate) fn stderr_tail(&self) -> String {
        let tail = self.stderr_tail.lock().unwrap_or_else(|p| p.into_inner());
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        // A benchmark process has nothing to flush: SIGKILL, then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
