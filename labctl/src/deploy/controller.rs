//! The lab's controller seen from its own namespace: whether it accepts
//! connections, and its admin API (`mock_controller::AdminClient`), which
//! listens on that namespace's loopback only. Each call runs on a fresh
//! thread inside the namespace ([`labns::run_in`]) with a current-thread
//! tokio runtime of its own: no shared thread ever changes namespace.

use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::time::Duration;

use mock_controller::{AdminClient, AdminClientError};

use super::{ControllerSpec, ADMIN_ADDR};
use crate::error::{Error, Result};

/// How long one connection attempt may take.
const CONNECT_WAIT: Duration = Duration::from_millis(500);

/// Whether the controller accepts on its intent port and its admin port.
pub fn accepting(c: &ControllerSpec) -> Result<ControlFlow<(), String>> {
    let intent = c.listen();
    let admin: SocketAddr = ADMIN_ADDR
        .parse()
        .map_err(|e| Error::Controller(format!("{e}")))?;
    let open = labns::run_in(&c.netns, move || {
        [intent, admin]
            .into_iter()
            .find(|a| TcpStream::connect_timeout(a, CONNECT_WAIT).is_err())
    })?;
    Ok(match open {
        None => ControlFlow::Break(()),
        Some(a) => ControlFlow::Continue(format!("nothing accepts on {a}")),
    })
}

/// Run `call` against the admin API of the controller in `netns`.
pub fn admin<T, F, Fut>(netns: &str, call: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(AdminClient) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, AdminClientError>>,
{
    let ns = netns.to_string();
    labns::run_in(netns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Sys {
                op: "tokio runtime",
                what: format!("admin API in {ns}"),
                source,
            })?;
        rt.block_on(async {
            let client = AdminClient::connect(ADMIN_ADDR).await?;
            call(client).await
        })
        .map_err(|e| Error::Controller(format!("admin API in {ns}: {e}")))
    })?
}
