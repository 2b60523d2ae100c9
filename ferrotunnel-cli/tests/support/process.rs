//! A `ferrotunnel` child process, watched through its stdout status lines.

use std::{
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Condvar, Mutex, mpsc},
    thread,
    time::{Duration, Instant},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_ferrotunnel");
pub const TOKEN: &str = "cli-test-token";
/// How long a child may take to print a line or to exit: generous, for debug builds on a busy
/// two-core machine; a passing run takes well under a second.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running `ferrotunnel` process whose stdout is read line by line and whose stderr is kept.
pub struct Running {
    name: &'static str,
    child: Child,
    stdout: mpsc::Receiver<String>,
    pub seen: Vec<String>,
    /// What the child wrote on stderr so far, and a signal for each line added.
    stderr: Arc<(Mutex<String>, Condvar)>,
    /// Ends when the child's stderr closes, so joining it means `stderr` is complete.
    stderr_reader: Option<thread::JoinHandle<()>>,
    exited: Option<ExitStatus>,
}

impl Running {
    pub fn spawn(name: &'static str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_remove("FERROTUNNEL_TOKEN")
            // `TEST_CHILD_LOG=debug cargo test …` to see what the children log at debug.
            .env(
                "RUST_LOG",
                std::env::var("TEST_CHILD_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn ferrotunnel");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");

        let (lines, receiver) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        // Drained continuously, or a chatty child would block on a full pipe.
        let kept = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let sink = kept.clone();
        let stderr_reader = thread::spawn(move || {
            let (text, added) = &*sink;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut kept = text.lock().expect("stderr buffer");
                kept.push_str(&line);
                kept.push('\n');
                added.notify_all();
            }
        });
        Self {
            name,
            child,
            stdout: receiver,
            seen: Vec::new(),
            stderr: kept,
            stderr_reader: Some(stderr_reader),
            exited: None,
        }
    }

    /// Reads stdout until a line with this label, and returns its value.
    pub fn value_of(&mut self, label: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    let value = line
                        .strip_prefix(label)
                        .filter(|rest| rest.starts_with("  "))
                        .map(|rest| rest.trim().to_owned());
                    self.seen.push(line);
                    if let Some(value) = value {
                        return value;
                    }
                }
                Err(err) => panic!(
                    "{}: no {label:?} line ({err:?}); stdout so far: {:#?}",
                    self.name, self.seen
                ),
            }
        }
    }

    pub fn send_sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "{}: kill -TERM failed", self.name);
    }

    /// Waits for the child to exit: its stdout closes when it does. Returns its exit status,
    /// once all it wrote to stderr has been read.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{}: still running after {WAIT:?}", self.name)
                }
            }
        }
        let status = self.child.wait().expect("wait for the child");
        self.exited = Some(status);
        if let Some(reader) = self.stderr_reader.take() {
            reader.join().expect("stderr reader");
        }
        status
    }

    pub fn stderr(&self) -> String {
        self.stderr.0.lock().expect("stderr buffer").clone()
    }

    /// Waits until the child has written `text` on stderr, woken by each line it writes;
    /// fails after [`WAIT`].
    pub fn wait_for_stderr(&self, text: &str) {
        let (kept, added) = &*self.stderr;
        let guard = kept.lock().expect("stderr buffer");
        let (guard, timeout) = added
            .wait_timeout_while(guard, WAIT, |kept| !kept.contains(text))
            .expect("stderr buffer");
        assert!(
            !timeout.timed_out(),
            "{}: no `{text}` on stderr within {WAIT:?}:\n{}",
            self.name,
            *guard
        );
    }

    pub fn printed(&self, line: &str) -> bool {
        self.seen.iter().any(|seen| seen == line)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!(
                "--- {} stdout ---\n{}\n--- {} stderr ---\n{}",
                self.name,
                self.seen.join("\n"),
                self.name,
                self.stderr()
            );
        }
    }
}

/// A `ferrotunnel server` on loopback with free ports, the test token and `extra` flags, once
/// it says it is online; with the `tcp://` URL clients connect to and the HTTP ingress address.
pub fn start_server(extra: &[&str]) -> (Running, String, SocketAddr) {
    start_server_with_env(extra, &[])
}

/// [`start_server`], with `env` set for the server process.
pub fn start_server_with_env(
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Running, String, SocketAddr) {
    let mut args = vec![
        "server",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--token",
        TOKEN,
        "--grace-period",
        "5s",
    ];
    args.extend_from_slice(extra);
    let mut server = Running::spawn("server", &args, env);
    let control = server.value_of("Control address");
    let http = server
        .value_of("HTTP address")
        .parse()
        .expect("HTTP address");
    assert_eq!(server.value_of("Server Status"), "online");
    (server, format!("tcp://{control}"), http)
}

/// A `ferrotunnel client` exposing `local` as `name`, with `extra` flags, once online.
pub fn start_client(server_url: &str, local: SocketAddr, name: &str, extra: &[&str]) -> Running {
    let local = local.to_string();
    let mut args = vec![
        "client",
        "--server",
        server_url,
        "--token",
        TOKEN,
        "--local",
        &local,
        "--subdomain",
        name,
    ];
    args.extend_from_slice(extra);
    let mut client = Running::spawn("client", &args, &[]);
    assert_eq!(client.value_of("Session Status"), "online");
    client
}
