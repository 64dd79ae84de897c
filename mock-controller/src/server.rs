//! gRPC glue: the `IntentController` stream service, the `ControllerAdmin`
//! service, and the small admin client `labctl link set` uses.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use intent_proto::api::{
    self, controller_admin_client::ControllerAdminClient, controller_admin_server::ControllerAdmin,
    intent_controller_server::IntentController,
};
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, warn};

use crate::controller::{
    AdminError, Controller, StreamEnd, StreamHandle, StreamId, StreamSignal, MAX_PAGE_BYTES,
    MAX_SESSIONS_PAGE,
};

/// The intent service: one task per stream reads requests; results (answers
/// and pushes) come from the stream's own channel.
#[derive(Debug, Clone)]
pub struct IntentService {
    pub(crate) ctrl: Controller,
}

/// The response stream of one GetIntentPath call. When tonic drops it (the
/// client went away or the call ended) the stream's sessions are removed.
#[derive(Debug)]
pub struct ResultStream {
    rx: mpsc::Receiver<api::PathResult>,
    ended: Option<oneshot::Receiver<StreamEnd>>,
    ctrl: Controller,
    id: StreamId,
}

/// The status a stream the controller ended closes with.
fn end_status(reason: StreamEnd) -> Status {
    match reason {
        StreamEnd::Overflow { limit } => Status::resource_exhausted(format!(
            "stream closed: the client left {limit} results unread (its sessions are dropped; reconnect and ask again)"
        )),
        StreamEnd::Broken(status) => status,
    }
}

impl Stream for ResultStream {
    type Item = Result<api::PathResult, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(ended) = self.ended.as_mut() {
            match Pin::new(ended).poll(cx) {
                Poll::Ready(Ok(reason)) => {
                    self.ended = None;
                    self.rx.close();
                    return Poll::Ready(Some(Err(end_status(reason))));
                }
                // Closed without a reason: a normal end, results drain.
                Poll::Ready(Err(_)) => self.ended = None,
                Poll::Pending => {}
            }
        }
        self.rx.poll_recv(cx).map(|r| r.map(Ok))
    }
}

impl Drop for ResultStream {
    fn drop(&mut self) {
        self.ctrl.close_stream(self.id);
    }
}

/// Largest request message either service decodes (a valid request is
/// well under 2 KiB); a larger one ends its stream with RESOURCE_EXHAUSTED.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The status a broken request stream ends the call with: tonic reports a
/// message over the decoding limit as OUT_OF_RANGE; say RESOURCE_EXHAUSTED
/// and the limit, as gRPC does for other size limits.
fn inbound_status(status: Status) -> Status {
    if status.code() == tonic::Code::OutOfRange {
        return Status::resource_exhausted(format!(
            "request message over the {MAX_MESSAGE_BYTES}-byte limit ({})",
            status.message()
        ));
    }
    status
}

/// Read one stream's requests until it ends; answer each in order.
async fn read_requests(
    ctrl: Controller,
    id: StreamId,
    signal: Arc<StreamSignal>,
    mut inbound: Streaming<api::PathRequest>,
) {
    let stopping = ctrl.stopping();
    tokio::pin!(stopping);
    loop {
        let msg = tokio::select! {
            m = inbound.message() => m,
            // Shutdown or the stream was ended: stop reading.
            () = &mut stopping => break,
            () = signal.closed() => break,
        };
        let req = match msg {
            Ok(Some(req)) => req,
            // The client finished sending: its sessions stay and keep
            // receiving pushes until the call ends.
            Ok(None) => break,
            Err(status) => {
                debug!(stream = id, %status, "request stream broken");
                ctrl.end_stream(id, StreamEnd::Broken(inbound_status(status)));
                break;
            }
        };
        // Room for the answer first: a client that does not read its
        // results is not read from either (HTTP/2 flow control holds it).
        let slot = tokio::select! {
            s = ctrl.reserve(id) => s,
            () = signal.closed() => None,
        };
        let Some(slot) = slot else { break };
        // Path search is CPU work (up to its budget): run it off the
        // reactor, one request at a time so answers keep the stream's order.
        let c = ctrl.clone();
        if let Err(e) =
            tokio::task::spawn_blocking(move || c.handle_request_in(id, req, slot)).await
        {
            warn!(stream = id, "request handler failed: {e}");
        }
    }
}

#[tonic::async_trait]
impl IntentController for IntentService {
    type GetIntentPathStream = ResultStream;

    async fn get_intent_path(
        &self,
        request: Request<Streaming<api::PathRequest>>,
    ) -> Result<Response<Self::GetIntentPathStream>, Status> {
        let peer = request
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "unknown".into());
        let inbound = request.into_inner();
        let StreamHandle {
            id,
            results,
            ended,
            signal,
        } = self.ctrl.open_stream(peer);
        tokio::spawn(read_requests(self.ctrl.clone(), id, signal, inbound));
        Ok(Response::new(ResultStream {
            rx: results,
            ended: Some(ended),
            ctrl: self.ctrl.clone(),
            id,
        }))
    }
}

/// The admin service.
#[derive(Debug, Clone)]
pub struct AdminService {
    pub(crate) ctrl: Controller,
}

fn status(e: AdminError) -> Status {
    match e {
        AdminError::UnknownNode(_) | AdminError::NoLink(..) | AdminError::WrongLink { .. } => {
            Status::not_found(e.to_string())
        }
        AdminError::Ambiguous { .. } | AdminError::Invalid { .. } => {
            Status::invalid_argument(e.to_string())
        }
        AdminError::WrongMode(_) => Status::failed_precondition(e.to_string()),
    }
}

#[tonic::async_trait]
impl ControllerAdmin for AdminService {
    async fn set_link(
        &self,
        request: Request<api::SetLinkRequest>,
    ) -> Result<Response<api::SetLinkReply>, Status> {
        let ctrl = self.ctrl.clone();
        let req = request.into_inner();
        // Recomputing many sessions is CPU work: keep it off the reactor.
        tokio::task::spawn_blocking(move || ctrl.set_link(&req))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map(Response::new)
            .map_err(status)
    }

    async fn list_links(
        &self,
        _request: Request<api::ListLinksRequest>,
    ) -> Result<Response<api::ListLinksReply>, Status> {
        let links = self.ctrl.list_links().map_err(status)?;
        Ok(Response::new(api::ListLinksReply { links }))
    }

    async fn list_sessions(
        &self,
        request: Request<api::ListSessionsRequest>,
    ) -> Result<Response<api::ListSessionsReply>, Status> {
        let req = request.into_inner();
        let max = match req.max_sessions as usize {
            0 => MAX_SESSIONS_PAGE,
            n => n.min(MAX_SESSIONS_PAGE),
        };
        let (sessions, next_after_session_id) =
            self.ctrl
                .list_sessions_page(req.after_session_id, max, MAX_PAGE_BYTES);
        Ok(Response::new(api::ListSessionsReply {
            sessions,
            next_after_session_id,
        }))
    }

    async fn set_static_path(
        &self,
        request: Request<api::SetStaticPathRequest>,
    ) -> Result<Response<api::SetStaticPathReply>, Status> {
        let results_pushed = self
            .ctrl
            .set_static_path(&request.into_inner())
            .map_err(status)?;
        Ok(Response::new(api::SetStaticPathReply { results_pushed }))
    }
}

/// Errors of the admin client.
#[derive(Debug, thiserror::Error)]
pub enum AdminClientError {
    #[error("cannot reach the controller's admin API at {addr}: {source}")]
    Connect {
        addr: String,
        source: tonic::transport::Error,
    },
    #[error("controller refused: {}", .0.message())]
    Refused(#[from] Status),
}

/// A connection to a controller's admin API (`host:port` or a URL).
#[derive(Debug, Clone)]
pub struct AdminClient {
    inner: ControllerAdminClient<tonic::transport::Channel>,
}

impl AdminClient {
    /// Connect to `addr` (`[::1]:5002` or `http://[::1]:5002`).
    pub async fn connect(addr: &str) -> Result<AdminClient, AdminClientError> {
        let url = if addr.contains("://") {
            addr.to_owned()
        } else {
            format!("http://{addr}")
        };
        let inner = ControllerAdminClient::connect(url)
            .await
            .map_err(|source| AdminClientError::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        Ok(AdminClient { inner })
    }

    /// Change a link; the reply says how many results were pushed.
    pub async fn set_link(
        &mut self,
        req: api::SetLinkRequest,
    ) -> Result<api::SetLinkReply, AdminClientError> {
        Ok(self.inner.set_link(req).await?.into_inner())
    }

    /// Every link with its current state.
    pub async fn list_links(&mut self) -> Result<Vec<api::LinkState>, AdminClientError> {
        Ok(self
            .inner
            .list_links(api::ListLinksRequest {})
            .await?
            .into_inner()
            .links)
    }

    /// Every open session with its current result (every page).
    pub async fn list_sessions(&mut self) -> Result<Vec<api::Session>, AdminClientError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self.list_sessions_page(after, 0).await?;
            all.extend(page.sessions);
            match page.next_after_session_id {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// One page of sessions: ids above `after`, at most `max` (0: the
    /// server's default).
    pub async fn list_sessions_page(
        &mut self,
        after: Option<u64>,
        max: u32,
    ) -> Result<api::ListSessionsReply, AdminClientError> {
        let req = api::ListSessionsRequest {
            after_session_id: after,
            max_sessions: max,
        };
        Ok(self.inner.list_sessions(req).await?.into_inner())
    }

    /// Static mode: set the answer for (destination, intents).
    pub async fn set_static_path(
        &mut self,
        req: api::SetStaticPathRequest,
    ) -> Result<u32, AdminClientError> {
        Ok(self
            .inner
            .set_static_path(req)
            .await?
            .into_inner()
            .results_pushed)
    }
}

/// One call for `labctl link set A B ...`: connect, change, return the reply.
pub async fn set_link(
    admin_addr: &str,
    req: api::SetLinkRequest,
) -> Result<api::SetLinkReply, AdminClientError> {
    AdminClient::connect(admin_addr).await?.set_link(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::{Options, Source};
    use crate::pathcomp::Graph;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_stream_the_controller_ends_closes_with_its_status() {
        let ctrl = Controller::new(Source::Computed(Graph::new()), Options::default());
        let h = ctrl.open_stream("test".into());
        let mut stream = ResultStream {
            rx: h.results,
            ended: Some(h.ended),
            ctrl: ctrl.clone(),
            id: h.id,
        };
        ctrl.end_stream(h.id, StreamEnd::Overflow { limit: 7 });
        let status = stream.next().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(
            status.message().contains("left 7 results unread"),
            "{status}"
        );
        assert!(stream.next().await.is_none());
    }
}
