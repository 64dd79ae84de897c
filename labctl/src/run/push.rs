//! The steps that talk to the controller's admin API: whether it holds a
//! session's path (`wait: controller_path`), and a static path pushed
//! (`controller_push`).

use std::net::Ipv6Addr;
use std::ops::ControlFlow;

use super::steps::Runner;
use crate::error::{Error, Result};
use crate::scenario::PathPush;

/// Whether the controller holds a session from `host` to `to` (with
/// exactly `sids`, when given).
pub fn controller_holds(
    r: &Runner<'_>,
    host: &str,
    to: Ipv6Addr,
    sids: Option<&[Ipv6Addr]>,
) -> Result<ControlFlow<(), String>> {
    let from = r
        .topo
        .nodes
        .get(host)
        .and_then(|n| n.address)
        .ok_or_else(|| Error::Run(format!("{host} has no address")))?;
    let Some(c) = &r.session.current.controller else {
        return Err(Error::Run("the run has no controller".to_string()));
    };
    let sessions =
        match crate::deploy::controller::admin(
            &c.netns,
            |mut a| async move { a.list_sessions().await },
        ) {
            Ok(s) => s,
            // Not up yet (restarting): look again.
            Err(e) => return Ok(ControlFlow::Continue(e.to_string())),
        };
    let held: Vec<Vec<Ipv6Addr>> = sessions
        .iter()
        .filter(|s| {
            s.request.as_ref().is_some_and(|q| {
                q.ipv6_source_address.parse() == Ok(from)
                    && q.ipv6_destination_address.parse() == Ok(to)
            })
        })
        .filter_map(|s| s.current.as_ref())
        .map(|res| {
            res.ipv6_sid_addresses
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect()
        })
        .collect();
    let ok = held
        .iter()
        .any(|h| !h.is_empty() && sids.is_none_or(|want| h.as_slice() == want));
    Ok(match ok {
        true => ControlFlow::Break(()),
        false => ControlFlow::Continue(format!("sessions {host} -> {to}: {held:?}")),
    })
}

/// `controller_push`: answer `host`'s requests for (`to`, the intents its
/// config gives `port`) with `sids`, and push it (static mode).
pub fn push(r: &mut Runner<'_>, p: &PathPush) -> Result<String> {
    let _ = (r, p);
    Err(Error::Run(
        "controller_push is not supported yet".to_string(),
    ))
}
