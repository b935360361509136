//! The JSON-RPC client under subxt, watched: any transport failure (socket closed, client
//! restart needed) marks the connection broken, whatever error type subxt later wraps it in,
//! so that the next call opens a fresh connection instead of failing on a dead one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use subxt::ext::futures::StreamExt;
use subxt_rpcs::client::{RawRpcFuture, RawRpcSubscription, RawValue, RpcClientT};
use subxt_rpcs::{Error, RpcClient};

/// Whether an RPC error means the transport itself failed.
pub(crate) fn is_transport(err: &Error) -> bool {
    matches!(err, Error::Client(_) | Error::DisconnectedWillReconnect(_))
}

pub(crate) struct WatchedRpc {
    inner: RpcClient,
    broken: Arc<AtomicBool>,
}

impl WatchedRpc {
    /// Wraps `inner`; the flag turns true on the first transport failure.
    pub(crate) fn new(inner: RpcClient) -> (WatchedRpc, Arc<AtomicBool>) {
        let broken = Arc::new(AtomicBool::new(false));
        (WatchedRpc { inner, broken: broken.clone() }, broken)
    }

    fn note<T>(&self, result: &Result<T, Error>) {
        if let Err(e) = result {
            if is_transport(e) {
                self.broken.store(true, Ordering::SeqCst);
            }
        }
    }
}

impl RpcClientT for WatchedRpc {
    fn request_raw<'a>(&'a self, method: &'a str, params: Option<Box<RawValue>>) -> RawRpcFuture<'a, Box<RawValue>> {
        Box::pin(async move {
            let result = self.inner.request_raw(method, params).await;
            self.note(&result);
            result
        })
    }

    fn subscribe_raw<'a>(
        &'a self,
        sub: &'a str,
        params: Option<Box<RawValue>>,
        unsub: &'a str,
    ) -> RawRpcFuture<'a, RawRpcSubscription> {
        Box::pin(async move {
            let result = self.inner.subscribe_raw(sub, params, unsub).await;
            self.note(&result);
            let subscription = result?;
            let broken = self.broken.clone();
            let stream = subscription.stream.map(move |item| {
                if let Err(e) = &item {
                    if is_transport(e) {
                        broken.store(true, Ordering::SeqCst);
                    }
                }
                item
            });
            Ok(RawRpcSubscription { stream: Box::pin(stream), id: subscription.id })
        })
    }
}
