//! Faults a test injects into the local hub, and what the hub counts while serving.
//!
//! A [`Fault`] matches a route (and, for downloads, a file path) and fires a number of times (or
//! always): an HTTP error with an optional `Retry-After`, a delay before answering, a body cut
//! after some bytes (the connection is dropped mid-file), a throttled body, or a listing that
//! lies about a file's size or lists a file that is not there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/api/models/{repo}/revision/{rev}`
    Info,
    /// `/api/models/{repo}/tree/{rev}`
    Tree,
    /// `/{repo}/resolve/{rev}/{path}`
    Resolve,
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this status (and `Retry-After` when given) instead of the real response.
    Status { status: u16, retry_after: Option<String> },
    /// Wait before answering.
    Delay(Duration),
    /// Send this many body bytes, then drop the connection.
    CutAfter(u64),
    /// Send the body at this rate.
    Throttle { bytes_per_sec: u64 },
    /// Listings report this size for `path`.
    ListSize { path: String, size: u64 },
    /// Listings include a file that does not exist (any name, `../x` and `/abs` included).
    ListExtra { path: String, size: u64 },
    /// Listings announce this LFS sha256 for `path`.
    ListSha256 { path: String, sha256: String },
    /// The revision info leaves out sizes (as without `blobs=true`), so clients use the tree.
    InfoWithoutSizes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub route: Route,
    /// For [`Route::Resolve`]: only this file. `None`: every file.
    pub path: Option<String>,
    pub action: FaultAction,
    /// Fires this many times; `None`: always.
    pub times: Option<u32>,
    /// Lets this many matching requests through before firing.
    pub skip: u32,
}

impl Fault {
    pub fn new(route: Route, action: FaultAction) -> Fault {
        Fault { route, path: None, action, times: None, skip: 0 }
    }
    /// An HTTP error status on `route`.
    pub fn status(route: Route, status: u16) -> Fault {
        Fault::new(route, FaultAction::Status { status, retry_after: None })
    }
    /// A body cut after `bytes` while downloading `path`.
    pub fn cut_after(path: &str, bytes: u64) -> Fault {
        Fault::new(Route::Resolve, FaultAction::CutAfter(bytes)).for_path(path)
    }
    pub fn throttle(path: &str, bytes_per_sec: u64) -> Fault {
        Fault::new(Route::Resolve, FaultAction::Throttle { bytes_per_sec }).for_path(path)
    }
    pub fn delay(route: Route, delay: Duration) -> Fault {
        Fault::new(route, FaultAction::Delay(delay))
    }
    pub fn list_size(path: &str, size: u64) -> Fault {
        Fault::new(Route::Any, FaultAction::ListSize { path: path.into(), size })
    }
    pub fn list_extra(path: &str, size: u64) -> Fault {
        Fault::new(Route::Any, FaultAction::ListExtra { path: path.into(), size })
    }
    pub fn for_path(mut self, path: &str) -> Fault {
        self.path = Some(path.to_string());
        self
    }
    /// Fires only after `n` matching requests went through untouched.
    pub fn after(mut self, n: u32) -> Fault {
        self.skip = n;
        self
    }
    pub fn times(mut self, n: u32) -> Fault {
        self.times = Some(n);
        self
    }
    pub fn retry_after(mut self, value: &str) -> Fault {
        if let FaultAction::Status { retry_after, .. } = &mut self.action {
            *retry_after = Some(value.to_string());
        }
        self
    }

    fn matches(&self, route: Route, path: Option<&str>) -> bool {
        let route_ok = self.route == Route::Any || self.route == route;
        let path_ok = match (&self.path, path) {
            (Some(want), Some(got)) => want == got,
            (Some(_), None) => false,
            (None, _) => true,
        };
        route_ok && path_ok && self.times != Some(0)
    }
}

/// The faults in force (shared with the running server).
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<Vec<Fault>>>);

impl Faults {
    pub fn add(&self, fault: Fault) {
        self.0.lock().expect("not poisoned").push(fault);
    }
    pub fn clear(&self) {
        self.0.lock().expect("not poisoned").clear();
    }

    /// The faults that fire for this request (each used once more).
    pub(crate) fn fire(&self, route: Route, path: Option<&str>) -> Vec<FaultAction> {
        let mut faults = self.0.lock().expect("not poisoned");
        let mut fired = Vec::new();
        for fault in faults.iter_mut() {
            let listing_only = matches!(
                fault.action,
                FaultAction::ListSize { .. }
                    | FaultAction::ListExtra { .. }
                    | FaultAction::ListSha256 { .. }
                    | FaultAction::InfoWithoutSizes
            );
            let applies = if listing_only { matches!(route, Route::Info | Route::Tree) } else { true };
            if applies && fault.matches(route, path) {
                if fault.skip > 0 {
                    fault.skip -= 1;
                    continue;
                }
                if let Some(n) = &mut fault.times {
                    *n -= 1;
                }
                fired.push(fault.action.clone());
            }
        }
        fired
    }
}

/// One request, as the hub saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub status: u16,
    pub authorized: bool,
}

/// What the hub has served: body bytes per `repo/file`, and every request.
#[derive(Debug, Clone, Default)]
pub struct ServeStats {
    bytes: Arc<Mutex<HashMap<String, u64>>>,
    requests: Arc<Mutex<Vec<RequestRecord>>>,
}

impl ServeStats {
    pub(crate) fn add_bytes(&self, key: &str, n: u64) {
        *self.bytes.lock().expect("not poisoned").entry(key.to_string()).or_insert(0) += n;
    }
    pub(crate) fn record(&self, record: RequestRecord) {
        self.requests.lock().expect("not poisoned").push(record);
    }
    /// Body bytes sent for `repo`'s file `path`.
    pub fn bytes_served(&self, repo: &str, path: &str) -> u64 {
        self.bytes.lock().expect("not poisoned").get(&format!("{repo}/{path}")).copied().unwrap_or(0)
    }
    /// Body bytes sent for every file whose `repo/path` satisfies `pred`.
    pub fn bytes_served_where(&self, pred: impl Fn(&str) -> bool) -> u64 {
        self.bytes.lock().expect("not poisoned").iter().filter(|(k, _)| pred(k)).map(|(_, v)| v).sum()
    }
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.requests.lock().expect("not poisoned").clone()
    }
    pub fn reset(&self) {
        self.bytes.lock().expect("not poisoned").clear();
        self.requests.lock().expect("not poisoned").clear();
    }
}
