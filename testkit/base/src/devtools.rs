//! Chromium as a test peer: headless and offline (no proxy, no name resolution but the
//! loopback address, no background services), killed on drop, driven over the DevTools
//! protocol ([`Cdp`]: a websocket session on one page: navigate, evaluate, screenshot, read the
//! DOM).

use base64::Engine;
use serde_json::{json, Value};
use std::io::ErrorKind;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use tungstenite::{Message, WebSocket};

/// A running headless Chromium with its DevTools port and browser path; killed when dropped.
pub struct Chromium {
    child: Child,
    pub port: u16,
    pub path: String,
}

impl Chromium {
    /// A DevTools session on a new page of this browser.
    pub fn connect(&self) -> Cdp {
        Cdp::connect(self.port, &self.path)
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "Chromium is not installed: `apt-get install chromium` (Debian's package; scripts/test \
         installs it)"
    );
}

/// Starts headless Chromium, offline: no proxy, every host name but the loopback address
/// unresolvable, no background services. Returns it and its DevTools port and path.
pub fn start_chromium(profile: &Path, scripts: bool) -> Chromium {
    let mut cmd = Command::new(chromium());
    if !scripts {
        cmd.arg("--blink-settings=scriptEnabled=false");
    }
    let child = cmd
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-domain-reliability",
            "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
            "--no-proxy-server",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--window-size=1280,900",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut proc = Chromium {
        child,
        port: 0,
        path: String::new(),
    };
    let file = profile.join("DevToolsActivePort");
    for _ in 0..600 {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                proc.port = port.parse().unwrap();
                proc.path = path.to_string();
                return proc;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("Chromium wrote no DevToolsActivePort within a minute");
}

/// A DevTools protocol session on one page (flat mode over the browser's websocket).
pub struct Cdp {
    ws: WebSocket<TcpStream>,
    next: u64,
    session: String,
    events: Vec<Value>,
}

impl Cdp {
    pub fn connect(port: u16, path: &str) -> Cdp {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(120)))
            .unwrap();
        let url = format!("ws://127.0.0.1:{port}{path}");
        let (ws, _) = tungstenite::client(url.as_str(), stream).expect("DevTools websocket");
        let mut cdp = Cdp {
            ws,
            next: 0,
            session: String::new(),
            events: Vec::new(),
        };
        let target = cdp.call("Target.createTarget", json!({ "url": "about:blank" }));
        let attached = cdp.call(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        cdp.session = attached["sessionId"].as_str().unwrap().to_string();
        cdp
    }

    fn read(&mut self) -> Value {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).unwrap(),
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    panic!("Chromium did not answer within two minutes")
                }
                Err(e) => panic!("DevTools websocket: {e}"),
            }
        }
    }

    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws.send(Message::Text(msg.to_string().into())).unwrap();
        loop {
            let m = self.read();
            if m["id"].as_u64() == Some(id) {
                if let Some(e) = m.get("error") {
                    panic!("{method}: {e}");
                }
                return m["result"].clone();
            }
            self.events.push(m);
        }
    }

    pub fn wait_event(&mut self, method: &str) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["method"] == method) {
            return self.events.remove(i);
        }
        loop {
            let m = self.read();
            if m["method"] == method {
                return m;
            }
            self.events.push(m);
        }
    }

    /// Navigates and waits for the load event; returns every URL the page requested.
    pub fn open(&mut self, url: &str) -> Vec<String> {
        self.events.clear();
        let nav = self.call("Page.navigate", json!({ "url": url }));
        assert!(nav.get("errorText").is_none(), "navigate {url}: {nav}");
        self.wait_event("Page.loadEventFired");
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .map(|e| e["params"]["request"]["url"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    pub fn screenshot(&mut self, path: &Path) {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// The outer HTML of `selector` and of the root element, through the DOM domain (works
    /// with scripts off).
    pub fn html(&mut self, selector: &str) -> (String, String) {
        let doc = self.call("DOM.getDocument", json!({ "depth": 0 }));
        let root = doc["root"]["nodeId"].clone();
        let node = self.call(
            "DOM.querySelector",
            json!({ "nodeId": root, "selector": selector }),
        );
        assert_ne!(node["nodeId"], 0, "no {selector} in the page");
        let html = self.call("DOM.getOuterHTML", json!({ "nodeId": node["nodeId"] }));
        let top = self.call(
            "DOM.querySelector",
            json!({ "nodeId": root, "selector": "html" }),
        );
        let top = self.call("DOM.getOuterHTML", json!({ "nodeId": top["nodeId"] }));
        (
            html["outerHTML"].as_str().unwrap().to_string(),
            top["outerHTML"].as_str().unwrap().to_string(),
        )
    }
}
