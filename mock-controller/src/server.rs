//! gRPC glue: the `IntentController` stream service, the `ControllerAdmin`
//! service, and the small admin client `labctl link set` uses.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use intent_proto::api::{
    self, controller_admin_client::ControllerAdminClient, controller_admin_server::ControllerAdmin,
    intent_controller_server::IntentController,
};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, warn};

use crate::controller::{AdminError, Controller, StreamId};

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
    rx: mpsc::UnboundedReceiver<api::PathResult>,
    ctrl: Controller,
    id: StreamId,
}

impl Stream for ResultStream {
    type Item = Result<api::PathResult, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|r| r.map(Ok))
    }
}

impl Drop for ResultStream {
    fn drop(&mut self) {
        self.ctrl.close_stream(self.id);
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
        let mut inbound = request.into_inner();
        let (id, rx) = self.ctrl.open_stream(peer);
        let ctrl = self.ctrl.clone();
        let stopping = self.ctrl.stopping();
        tokio::spawn(async move {
            tokio::pin!(stopping);
            loop {
                let msg = tokio::select! {
                    m = inbound.message() => m,
                    // Shutdown: stop reading so the HTTP/2 stream can end.
                    () = &mut stopping => break,
                };
                match msg {
                    Ok(Some(req)) => {
                        // Path search is CPU work (up to its budget): run it
                        // off the reactor, one request at a time so answers
                        // keep the stream's order.
                        let c = ctrl.clone();
                        if let Err(e) =
                            tokio::task::spawn_blocking(move || c.handle_request(id, req)).await
                        {
                            warn!(stream = id, "request handler failed: {e}");
                        }
                    }
                    // The client finished sending: its sessions stay and
                    // keep receiving pushes until the call ends.
                    Ok(None) => break,
                    Err(status) => {
                        debug!(stream = id, %status, "stream broken");
                        ctrl.close_stream(id);
                        break;
                    }
                }
            }
        });
        Ok(Response::new(ResultStream {
            rx,
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
        _request: Request<api::ListSessionsRequest>,
    ) -> Result<Response<api::ListSessionsReply>, Status> {
        Ok(Response::new(api::ListSessionsReply {
            sessions: self.ctrl.list_sessions(),
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

    /// Every open session with its current result.
    pub async fn list_sessions(&mut self) -> Result<Vec<api::Session>, AdminClientError> {
        Ok(self
            .inner
            .list_sessions(api::ListSessionsRequest {})
            .await?
            .into_inner()
            .sessions)
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
