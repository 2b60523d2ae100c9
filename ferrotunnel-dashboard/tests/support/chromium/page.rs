//! One page (a browser window with one tab), driven through its CDP session.

use std::{collections::VecDeque, fmt, path::Path, sync::Arc, time::Duration};

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{COMMAND_TIMEOUT, Cdp, LOAD_TIMEOUT, Result, VIEWPORT};

/// How many console errors a page keeps; later ones are counted, not kept.
const MAX_ERRORS: usize = 100;
/// How many finished documents a page remembers for `goto` to match its navigation against.
const MAX_LOADS: usize = 16;
/// Extra time the Rust side gives `wait_for` beyond the page's own timer, so that the page's
/// message (which names the condition) is the one a test sees.
const WAIT_SLACK: Duration = Duration::from_secs(10);

/// A page in a [`Browser`](super::Browser): one CDP session on the browser's connection.
///
/// Every method waits with a timeout and says what it waited for when it gives up.
pub struct Page {
    cdp: Cdp,
    session: String,
    target: String,
    events: Arc<PageEvents>,
}

/// What the page's subscriber records from its events.
struct PageEvents {
    errors: watch::Sender<Errors>,
    /// Loader ids of the documents that fired `load`, newest last.
    loads: watch::Sender<VecDeque<String>>,
}

#[derive(Debug, Default)]
struct Errors {
    kept: Vec<String>,
    dropped: usize,
}

impl Page {
    /// Opens `about:blank` in a new window, attaches to it, and sets its viewport to
    /// [`VIEWPORT`].
    pub(super) async fn open(cdp: Cdp) -> Result<Self> {
        // A window of its own, not a tab: a background tab gets no frames, so a screenshot of it
        // would wait forever and `requestAnimationFrame` would never fire in it.
        let created = cdp
            .call(
                None,
                "Target.createTarget",
                json!({ "url": "about:blank", "newWindow": true }),
                COMMAND_TIMEOUT,
            )
            .await?;
        let target = string_field(&created, "targetId", "Target.createTarget")?;
        let attached = cdp
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
                COMMAND_TIMEOUT,
            )
            .await?;
        let session = string_field(&attached, "sessionId", "Target.attachToTarget")?;

        let events = Arc::new(PageEvents {
            errors: watch::Sender::new(Errors::default()),
            loads: watch::Sender::new(VecDeque::new()),
        });
        let recorder = Arc::clone(&events);
        // Subscribed before any domain is enabled, so no event of this session is missed.
        cdp.subscribe(
            &session,
            Arc::new(move |method, params| recorder.record(method, params)),
        );
        let page = Self {
            cdp,
            session,
            target,
            events,
        };

        page.call("Page.enable", json!({})).await?;
        // Lifecycle events carry the loader id, which is how `goto` knows the `load` it sees is
        // its own document's and not the previous one's.
        page.call("Page.setLifecycleEventsEnabled", json!({ "enabled": true }))
            .await?;
        page.call("Runtime.enable", json!({})).await?;
        page.call("Log.enable", json!({})).await?;
        let (width, height) = VIEWPORT;
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await?;
        // Screenshots do not depend on the machine's theme.
        page.call(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": "light" }] }),
        )
        .await?;
        Ok(page)
    }

    /// Sends any CDP `method` to this page's session, for what the helpers below do not cover.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.cdp
            .call(Some(&self.session), method, params, COMMAND_TIMEOUT)
            .await
    }

    /// Navigates to `url` and waits (up to [`LOAD_TIMEOUT`]) for the new document's `load`
    /// event. A network failure (`net::ERR_…`) is an `Err`; an HTTP error status is not.
    pub async fn goto(&self, url: &str) -> Result<()> {
        let mut loads = self.events.loads.subscribe();
        let navigated = self
            .cdp
            .call(
                Some(&self.session),
                "Page.navigate",
                json!({ "url": url }),
                LOAD_TIMEOUT,
            )
            .await?;
        if let Some(error) = navigated.get("errorText").and_then(Value::as_str) {
            return Err(format!("goto {url}: {error}").into());
        }
        let Some(loader) = navigated.get("loaderId").and_then(Value::as_str) else {
            return Ok(()); // A same-document navigation (`#fragment`): nothing loads.
        };
        match tokio::time::timeout(
            LOAD_TIMEOUT,
            loads.wait_for(|ids| ids.iter().any(|id| id == loader)),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(format!(
                "goto {url}: the page did not fire `load` within {LOAD_TIMEOUT:?}{}",
                closed_note(&self.cdp)
            )
            .into()),
        }
    }

    /// Evaluates the JavaScript expression `js` in the page and returns its value as JSON; a
    /// promise is awaited. Statements need an arrow function: `(() => { …; return x; })()`.
    /// A thrown exception or a rejected promise is an `Err` with its text. `undefined` is
    /// `Null`, and a DOM node comes back as `{}`: return what you want to compare.
    pub async fn eval(&self, js: &str) -> Result<Value> {
        self.evaluate(js, COMMAND_TIMEOUT).await
    }

    /// Waits until the JavaScript expression `condition` is truthy in the page and returns its
    /// value, or fails after `timeout` with a message that names the condition.
    ///
    /// No polling from Rust: one promise in the page re-checks the condition on every DOM
    /// change (`MutationObserver`), on every animation frame and every 50 ms (for changes the
    /// DOM does not show, such as a `fetch` finishing). An exception in the condition counts as
    /// "not yet" and is quoted in the timeout message.
    pub async fn wait_for(&self, condition: &str, timeout: Duration) -> Result<Value> {
        let quoted = serde_json::to_string(condition)?;
        let millis = timeout.as_millis();
        let script = format!(
            r#"new Promise((resolve, reject) => {{
  const test = () => ({condition}
  );
  let done = false, lastError = null, frame = 0, tick = 0, timer = 0, observer = null;
  const finish = (settle, value) => {{
    done = true;
    if (observer) observer.disconnect();
    cancelAnimationFrame(frame); clearTimeout(tick); clearTimeout(timer);
    settle(value);
  }};
  const check = () => {{
    if (done) return;
    try {{
      const value = test();
      if (value) finish(resolve, value);
    }} catch (error) {{
      lastError = error;
    }}
  }};
  const onFrame = () => {{ check(); if (!done) frame = requestAnimationFrame(onFrame); }};
  const onTick = () => {{ check(); if (!done) tick = setTimeout(onTick, 50); }};
  timer = setTimeout(() => finish(reject, new Error(
    "wait_for: " + {quoted} + " was not truthy within {millis} ms" +
    (lastError ? " (it last threw: " + lastError + ")" : ""))), {millis});
  check();
  if (done) return;
  observer = new MutationObserver(check);
  observer.observe(document, {{ subtree: true, childList: true, attributes: true, characterData: true }});
  onFrame();
  onTick();
}})"#
        );
        self.evaluate(&script, timeout + WAIT_SLACK).await
    }

    /// Clicks the centre of the first element that matches the CSS `selector`, with real mouse
    /// events (`Input.dispatchMouseEvent`: move, press, release).
    ///
    /// Real events rather than `element.click()`: they are trusted, they focus what a user's
    /// click focuses, and they land on whatever is on top at that point, so a button hidden
    /// under an overlay fails here as it fails for a user. The element is scrolled into view
    /// first; an element that is missing, has an empty box, or is covered at its centre is an
    /// `Err` that says so.
    pub async fn click(&self, selector: &str) -> Result<()> {
        let quoted = serde_json::to_string(selector)?;
        let point = self
            .eval(&format!(
                r#"(() => {{
  const selector = {quoted};
  const element = document.querySelector(selector);
  if (!element) throw new Error("click: nothing matches " + selector);
  element.scrollIntoView({{ block: "center", inline: "center", behavior: "instant" }});
  const box = element.getBoundingClientRect();
  if (box.width === 0 || box.height === 0) throw new Error("click: " + selector + " has an empty box (hidden?)");
  const x = box.left + box.width / 2, y = box.top + box.height / 2;
  const hit = document.elementFromPoint(x, y);
  if (!hit || !(hit === element || element.contains(hit))) {{
    const what = hit ? hit.outerHTML.slice(0, 120) : "nothing (outside the viewport?)";
    throw new Error("click: " + selector + " is covered at its centre by " + what);
  }}
  return {{ x, y }};
}})()"#
            ))
            .await?;
        let (Some(x), Some(y)) = (
            point.get("x").and_then(Value::as_f64),
            point.get("y").and_then(Value::as_f64),
        ) else {
            return Err(format!("click {selector}: no point to click in {point}").into());
        };
        for (kind, buttons) in [("mouseMoved", 0), ("mousePressed", 1), ("mouseReleased", 0)] {
            let mut event = json!({ "type": kind, "x": x, "y": y, "buttons": buttons });
            if kind != "mouseMoved" {
                event["button"] = json!("left");
                event["clickCount"] = json!(1);
            }
            self.call("Input.dispatchMouseEvent", event).await?;
        }
        Ok(())
    }

    /// Sets the value of the first `<input>`, `<textarea>` or `<select>` that matches `selector`
    /// to `text` and dispatches `input` and `change`, as typing and leaving the field would.
    ///
    /// The value goes through the element's own `value` setter, so frameworks that watch it see
    /// the change. The events are synthetic (`isTrusted` is false).
    pub async fn fill(&self, selector: &str, text: &str) -> Result<()> {
        let quoted_selector = serde_json::to_string(selector)?;
        let quoted_text = serde_json::to_string(text)?;
        self.eval(&format!(
            r#"(() => {{
  const selector = {quoted_selector};
  const element = document.querySelector(selector);
  if (!element) throw new Error("fill: nothing matches " + selector);
  if (!("value" in element)) throw new Error("fill: " + selector + " is a <" + element.localName + ">, which has no value");
  element.scrollIntoView({{ block: "center", behavior: "instant" }});
  element.focus();
  const setter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(element), "value")?.set;
  if (setter) setter.call(element, {quoted_text}); else element.value = {quoted_text};
  element.dispatchEvent(new Event("input", {{ bubbles: true }}));
  element.dispatchEvent(new Event("change", {{ bubbles: true }}));
}})()"#
        ))
        .await?;
        Ok(())
    }

    /// Saves what the viewport ([`VIEWPORT`], CSS pixels at scale 1) shows now as a PNG at
    /// `path`, creating its directory.
    pub async fn screenshot_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let shot = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await?;
        let data = string_field(&shot, "data", "Page.captureScreenshot")?;
        let png = base64::engine::general_purpose::STANDARD.decode(data)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
        }
        std::fs::write(path, png)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        Ok(())
    }

    /// Everything that went wrong in the page so far, in order: uncaught exceptions and
    /// rejections, `console.error` and `console.assert` failures, and the browser's own errors
    /// (CSP violations, failed loads, 404s of subresources). A clean page gives `[]`.
    ///
    /// Complete up to the reply of this page's last command: chromium sends a page's events
    /// before the replies of the commands that follow them.
    pub fn console_errors(&self) -> Vec<String> {
        self.events.errors.borrow().list()
    }

    /// Waits until an error that contains `needle` has been collected (see
    /// [`console_errors`](Self::console_errors)) and returns it: for errors that come after the
    /// command that caused them, such as a CSP violation or an exception in a timer.
    pub async fn wait_for_console_error(&self, needle: &str, timeout: Duration) -> Result<String> {
        let mut errors = self.events.errors.subscribe();
        let found = |errors: &Errors| errors.kept.iter().find(|e| e.contains(needle)).cloned();
        match tokio::time::timeout(timeout, errors.wait_for(|errors| found(errors).is_some())).await
        {
            Ok(Ok(errors)) => Ok(found(&errors).unwrap_or_default()),
            Ok(Err(_)) | Err(_) => Err(format!(
                "no console error containing {needle:?} within {timeout:?}; the errors: {:?}{}",
                self.console_errors(),
                closed_note(&self.cdp)
            )
            .into()),
        }
    }

    /// Closes the page.
    pub async fn close(self) -> Result<()> {
        self.cdp
            .call(
                None,
                "Target.closeTarget",
                json!({ "targetId": self.target }),
                COMMAND_TIMEOUT,
            )
            .await?;
        Ok(())
    }

    async fn evaluate(&self, js: &str, limit: Duration) -> Result<Value> {
        let reply = self
            .cdp
            .call(
                Some(&self.session),
                "Runtime.evaluate",
                json!({
                    "expression": js,
                    "awaitPromise": true,
                    "returnByValue": true,
                    "userGesture": true,
                }),
                limit,
            )
            .await?;
        if let Some(details) = reply.get("exceptionDetails") {
            return Err(exception_text(details).into());
        }
        let result = reply.get("result").unwrap_or(&Value::Null);
        Ok(
            match (result.get("value"), result.get("unserializableValue")) {
                (Some(value), _) => value.clone(),
                // NaN, Infinity, -0 and BigInts, as JavaScript writes them.
                (None, Some(text)) => text.clone(),
                (None, None) => Value::Null,
            },
        )
    }
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Page")
            .field("target", &self.target)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.cdp.unsubscribe(&self.session);
    }
}

// === events ===

impl PageEvents {
    /// Runs on the connection's reader task: no awaiting, no blocking.
    fn record(&self, method: &str, params: &Value) {
        let error = match method {
            "Page.lifecycleEvent" => {
                if params.get("name").and_then(Value::as_str) == Some("load") {
                    if let Some(loader) = params.get("loaderId").and_then(Value::as_str) {
                        self.loads.send_modify(|loads| {
                            if loads.len() == MAX_LOADS {
                                loads.pop_front();
                            }
                            loads.push_back(loader.to_owned());
                        });
                    }
                }
                return;
            }
            "Runtime.exceptionThrown" => {
                let details = params.get("exceptionDetails").unwrap_or(&Value::Null);
                format!(
                    "uncaught {}{}",
                    exception_text(details),
                    location(details.get("url"), details.get("lineNumber"))
                )
            }
            "Runtime.consoleAPICalled" => {
                let kind = params.get("type").and_then(Value::as_str).unwrap_or("");
                if kind != "error" && kind != "assert" {
                    return;
                }
                let args = params
                    .get("args")
                    .and_then(Value::as_array)
                    .map(|args| args.iter().map(remote_object_text).collect::<Vec<_>>())
                    .unwrap_or_default();
                format!("console.{kind}: {}", args.join(" "))
            }
            "Log.entryAdded" => {
                let entry = params.get("entry").unwrap_or(&Value::Null);
                if entry.get("level").and_then(Value::as_str) != Some("error") {
                    return;
                }
                format!(
                    "{} error: {}{}",
                    entry
                        .get("source")
                        .and_then(Value::as_str)
                        .unwrap_or("browser"),
                    entry.get("text").and_then(Value::as_str).unwrap_or(""),
                    location(entry.get("url"), entry.get("lineNumber"))
                )
            }
            "Inspector.targetCrashed" => "the page crashed (renderer process gone)".to_owned(),
            _ => return,
        };
        self.errors.send_modify(|errors| {
            if errors.kept.len() < MAX_ERRORS {
                errors.kept.push(error);
            } else {
                errors.dropped += 1;
            }
        });
    }
}

impl Errors {
    fn list(&self) -> Vec<String> {
        let mut all = self.kept.clone();
        if self.dropped > 0 {
            all.push(format!("… and {} more errors", self.dropped));
        }
        all
    }
}

/// The text of a thrown exception or a rejected promise, from CDP's `ExceptionDetails`.
fn exception_text(details: &Value) -> String {
    let exception = details.get("exception");
    exception
        .and_then(|e| e.get("description"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| exception.and_then(|e| e.get("value")).map(json_text))
        .or_else(|| {
            details
                .get("text")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| details.to_string())
}

/// A console argument as the console would show it.
fn remote_object_text(object: &Value) -> String {
    object
        .get("value")
        .map(json_text)
        .or_else(|| {
            ["unserializableValue", "description", "type"]
                .iter()
                .find_map(|key| object.get(*key).and_then(Value::as_str).map(str::to_owned))
        })
        .unwrap_or_default()
}

fn json_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn location(url: Option<&Value>, line: Option<&Value>) -> String {
    match (url.and_then(Value::as_str), line.and_then(Value::as_u64)) {
        (Some(url), Some(line)) if !url.is_empty() => format!(" ({url}:{})", line + 1),
        (Some(url), None) if !url.is_empty() => format!(" ({url})"),
        _ => String::new(),
    }
}

fn string_field(reply: &Value, field: &str, method: &str) -> Result<String> {
    reply
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{method}: no `{field}` in the reply {reply}").into())
}

fn closed_note(cdp: &Cdp) -> String {
    cdp.closed()
        .map(|reason| format!(" (the DevTools connection closed: {reason})"))
        .unwrap_or_default()
}
