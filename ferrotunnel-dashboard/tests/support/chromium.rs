//! A small driver for headless Chromium over the Chrome DevTools Protocol, for tests that need a
//! real browser.
//!
//! ```ignore
//! let browser = Browser::launch().await?;
//! let page = browser.new_page().await?;
//! page.goto(&format!("http://{addr}/")).await?;
//! let name = page.wait_for("document.querySelector('td.name')?.textContent", LIMIT).await?;
//! page.click("button#refresh").await?;
//! page.screenshot_png(dir.join("dashboard.png")).await?;
//! assert_eq!(page.console_errors(), Vec::<String>::new());
//! browser.close().await?;
//! ```
//!
//! - [`Browser::launch`] starts chromium (`$CHROMIUM`, else `chromium`, `chromium-browser` or
//!   `google-chrome` on `PATH`) with a fresh profile in a temporary directory and DevTools on a
//!   port chromium picks, and connects to it. At most [`MAX_BROWSERS`] run at once per test
//!   binary: later launches wait for a slot, which keeps parallel tests from starving a small
//!   machine.
//! - [`Browser::new_page`] opens a page, in a window of its own so that it is never a
//!   background tab (which gets no frames: no screenshots, no `requestAnimationFrame`). All
//!   pages share the browser's one websocket (flattened sessions), so one browser can drive
//!   several pages at once, e.g. two visitors.
//! - [`Browser::close`] shuts chromium down and removes its profile. Dropping a `Browser` (a
//!   failed test) kills chromium and removes the profile as well as it can.

use std::{
    fmt,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, ChildStderr, Command},
    sync::{Semaphore, SemaphorePermit, oneshot, watch},
};

pub mod cdp;
mod page;

pub use cdp::Cdp;
pub use page::Page;

use cdp::StderrTail;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = BoxError> = std::result::Result<T, E>;

/// From spawning chromium to its DevTools websocket being connected. Generous: a cold start on
/// a loaded 2-core machine takes a few seconds.
pub const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);
/// One CDP command, from sending it to its reply.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// `Page::goto`: the navigation and the new document's `load` event, each.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Every page's viewport, in CSS pixels (device scale factor 1), so that screenshots compare.
pub const VIEWPORT: (u32, u32) = (1440, 900);
/// Browsers that may run at once in one test binary.
pub const MAX_BROWSERS: usize = 2;

/// How long a launch waits for a browser slot before it gives up.
const SLOT_TIMEOUT: Duration = Duration::from_secs(300);
/// `Browser::close`: chromium's clean exit, then that of its helper processes.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Lines of chromium's stderr kept for error messages.
const STDERR_LINES: usize = 40;

static SLOTS: Semaphore = Semaphore::const_new(MAX_BROWSERS);

/// The command line, beyond the profile directory and the first URL.
const FLAGS: &[&str] = &[
    "--headless=new",
    // CI runs as root in a container, where chromium's sandbox cannot start.
    "--no-sandbox",
    "--disable-gpu",
    // A container's /dev/shm is often 64 MB, too small for chromium's shared memory.
    "--disable-dev-shm-usage",
    // Port 0: chromium picks a free port and prints it on stderr.
    "--remote-debugging-port=0",
    // Nothing on the side: no first-run UI, extensions, updates, sync or network chatter.
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-component-extensions-with-background-pages",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,\
     CertificateTransparencyComponentUpdater,SpareRendererForSitePerProcess",
    "--metrics-recording-only",
    "--password-store=basic",
    "--use-mock-keychain",
    "--mute-audio",
    // A slow machine must not make chromium kill or throttle a page: every tab keeps timers and
    // animation frames running at full speed even when it is not the front one.
    "--disable-hang-monitor",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    // Screenshots that do not depend on the machine.
    "--hide-scrollbars",
    "--force-color-profile=srgb",
    "--window-size=1440,900",
];

/// A headless chromium with its own profile, driven over one DevTools websocket.
pub struct Browser {
    cdp: Cdp,
    child: Child,
    /// Becomes true when chromium's stderr ends, that is when chromium and every helper process
    /// it started (they all inherit stderr) have exited.
    all_exited: watch::Receiver<bool>,
    stderr: StderrTail,
    profile: ProfileDir,
    _slot: SemaphorePermit<'static>,
}

impl Browser {
    /// Starts chromium and connects to it. See the [module docs](self).
    pub async fn launch() -> Result<Self> {
        let slot = tokio::time::timeout(SLOT_TIMEOUT, SLOTS.acquire())
            .await
            .map_err(|_| {
                format!(
                    "waited {SLOT_TIMEOUT:?} for one of the {MAX_BROWSERS} browser slots: \
                     are other browser tests stuck?"
                )
            })?
            .map_err(|_| "the browser slots are closed")?;
        let binary = find_chromium()?;
        let profile = ProfileDir::create()?;

        let mut command = Command::new(&binary);
        command
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path.display()))
            .arg("about:blank")
            // Crash reports and caches go to the profile, not to the user's home.
            .env("XDG_CONFIG_HOME", profile.path.join("config"))
            .env("XDG_CACHE_HOME", profile.path.join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", binary.display()))?;
        let stderr = child
            .stderr
            .take()
            .ok_or("chromium's stderr was not captured")?;

        let tail = StderrTail::default();
        let (endpoint_tx, endpoint_rx) = oneshot::channel();
        let (exited_tx, all_exited) = watch::channel(false);
        tokio::spawn(drain_stderr(
            stderr,
            Arc::clone(&tail),
            endpoint_tx,
            exited_tx,
        ));

        let endpoint = match tokio::time::timeout(LAUNCH_TIMEOUT, endpoint_rx).await {
            Ok(Ok(endpoint)) => endpoint,
            Ok(Err(_)) => {
                let status = match tokio::time::timeout(CLOSE_TIMEOUT, child.wait()).await {
                    Ok(Ok(status)) => status.to_string(),
                    Ok(Err(error)) => error.to_string(),
                    Err(_) => "its helpers closed stderr, it still runs".to_owned(),
                };
                return Err(format!(
                    "{} exited ({status}) before DevTools listened; its stderr:\n{}",
                    binary.display(),
                    tail_text(&tail)
                )
                .into());
            }
            Err(_) => {
                return Err(format!(
                    "{} did not print `DevTools listening on ws://…` within {LAUNCH_TIMEOUT:?}; \
                     its stderr:\n{}",
                    binary.display(),
                    tail_text(&tail)
                )
                .into());
            }
        };
        let cdp = tokio::time::timeout(LAUNCH_TIMEOUT, Cdp::connect(&endpoint, Arc::clone(&tail)))
            .await
            .map_err(|_| format!("connecting to {endpoint} took over {LAUNCH_TIMEOUT:?}"))??;

        Ok(Self {
            cdp,
            child,
            all_exited,
            stderr: tail,
            profile,
            _slot: slot,
        })
    }

    /// Opens a new page on `about:blank`, with the [`VIEWPORT`] and errors being collected.
    pub async fn new_page(&self) -> Result<Page> {
        Page::open(self.cdp.clone()).await
    }

    /// The browser's DevTools connection, for commands the helpers do not cover.
    pub fn cdp(&self) -> &Cdp {
        &self.cdp
    }

    /// The last lines chromium wrote to stderr (mostly harmless D-Bus noise in a container).
    pub fn stderr_tail(&self) -> String {
        tail_text(&self.stderr)
    }

    /// Shuts chromium down cleanly, waits for all its processes to exit and removes its
    /// profile directory.
    pub async fn close(mut self) -> Result<()> {
        // The connection may close before the reply comes: chromium is exiting either way.
        let _ = self
            .cdp
            .call(None, "Browser.close", json!({}), CLOSE_TIMEOUT)
            .await;
        if tokio::time::timeout(CLOSE_TIMEOUT, self.child.wait())
            .await
            .is_err()
        {
            self.child.start_kill()?;
            tokio::time::timeout(CLOSE_TIMEOUT, self.child.wait())
                .await
                .map_err(|_| "chromium survived SIGKILL")??;
        }
        // The helpers (renderer, GPU, network, storage) leave just after the browser process;
        // the profile can only go once nothing writes to it.
        tokio::time::timeout(CLOSE_TIMEOUT, self.all_exited.wait_for(|exited| *exited))
            .await
            .map_err(|_| {
                format!(
                    "chromium's helper processes were still running {CLOSE_TIMEOUT:?} after it \
                     exited"
                )
            })?
            .map_err(|_| "chromium's stderr reader stopped")?;
        self.profile.remove()
    }
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("pid", &self.child.id())
            .field("profile", &self.profile.path)
            .field("cdp", &self.cdp)
            .finish_non_exhaustive()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After `close` there is nothing left to do. Otherwise (a test failed) SIGKILL the
        // browser process; its helpers notice and exit on their own within a moment, and
        // `ProfileDir::drop` removes the profile once they have.
        let _ = self.child.start_kill();
    }
}

// === finding and watching chromium ===

/// `$CHROMIUM` (a path, or a name looked up on `PATH`), else the usual names on `PATH`.
fn find_chromium() -> Result<PathBuf> {
    const HINT: &str = "install Debian's chromium (apt-get install chromium) or set CHROMIUM to \
                        the browser's path";
    if let Some(wanted) = std::env::var_os("CHROMIUM").filter(|value| !value.is_empty()) {
        let wanted = PathBuf::from(wanted);
        let found = if wanted.components().count() == 1 {
            on_path(&wanted)
        } else {
            is_executable(&wanted).then(|| wanted.clone())
        };
        return found.ok_or_else(|| {
            format!(
                "CHROMIUM={} is not an executable file: {HINT}",
                wanted.display()
            )
            .into()
        });
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| on_path(Path::new(name)))
        .ok_or_else(|| {
            format!("no chromium, chromium-browser or google-chrome on PATH: {HINT}").into()
        })
}

fn on_path(name: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Reads chromium's stderr to its end: hands on the DevTools endpoint, keeps the last lines for
/// error messages, and says when the pipe closes. Reading on after the endpoint matters: a full
/// pipe would block chromium (it logs a lot in a container without D-Bus).
async fn drain_stderr(
    stderr: ChildStderr,
    tail: StderrTail,
    endpoint: oneshot::Sender<String>,
    all_exited: watch::Sender<bool>,
) {
    let mut endpoint = Some(endpoint);
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        if let Some(url) = text.strip_prefix("DevTools listening on ") {
            if let Some(endpoint) = endpoint.take() {
                let _ = endpoint.send(url.trim().to_owned());
            }
        }
        let mut tail = tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tail.len() == STDERR_LINES {
            tail.pop_front();
        }
        tail.push_back(text);
    }
    all_exited.send_replace(true);
}

fn tail_text(tail: &StderrTail) -> String {
    tail.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .cloned()
        .collect::<Vec<_>>()
        .join("\n")
}

// === the profile directory ===

/// A fresh, empty directory for chromium's profile, removed on drop.
struct ProfileDir {
    path: PathBuf,
    removed: bool,
}

/// Profile directories are named `ferrotunnel-chromium-<pid of the test process>-<n>`.
const PROFILE_PREFIX: &str = "ferrotunnel-chromium-";

impl ProfileDir {
    fn create() -> Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(remove_stale_profiles);
        loop {
            let path = std::env::temp_dir().join(format!(
                "{PROFILE_PREFIX}{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            // `create_dir`, not `create_dir_all`: a leftover of an earlier run is skipped.
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    return Ok(Self {
                        path,
                        removed: false,
                    });
                }
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(error) => {
                    return Err(format!("cannot create {}: {error}", path.display()).into());
                }
            }
        }
    }

    fn remove(&mut self) -> Result<()> {
        self.removed = true;
        std::fs::remove_dir_all(&self.path)
            .map_err(|error| format!("cannot remove {}: {error}", self.path.display()).into())
    }
}

impl Drop for ProfileDir {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        // Chromium was just killed (a failed test): its helper processes may still write to
        // the profile for a moment, so this first try may leave some of it. Nothing waits for
        // them: the next test process sweeps what is left (`remove_stale_profiles`).
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Removes the profiles that test processes which no longer run left in the temp dir.
fn remove_stale_profiles() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|name| name.strip_prefix(PROFILE_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if owner != std::process::id() && !Path::new(&format!("/proc/{owner}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
