//! Hidden test hooks of `up`, read from the environment, so the privileged
//! tests can stop or fail `up` at a known step:
//!
//! - `LABCTL_PAUSE_AT=<step>`: `up` prints `labctl: paused at <step>` on
//!   stderr after that step and waits to be killed (or signalled: a pending
//!   SIGINT/SIGTERM/SIGHUP ends the pause and `up` reacts to it at that
//!   boundary, as it would without the pause).
//! - `LABCTL_FAIL_AT=<step>`: that step fails ([`Error::InjectedFailure`]),
//!   to test that a failed `up` removes what it made.
//!
//! Steps, in order: `namespaces`, `links`, `addresses`, `routes` (the
//! phases of [`crate::apply`]), `dns` (the DNS server started), `complete`
//! (the journal says complete; nothing is left to do but return).

use std::time::Duration;

use crate::error::Error;

/// The pause hook's variable.
pub const PAUSE_ENV: &str = "LABCTL_PAUSE_AT";
/// The failure hook's variable.
pub const FAIL_ENV: &str = "LABCTL_FAIL_AT";

fn asked(var: &str, step: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == step)
}

/// Stop here if `LABCTL_PAUSE_AT` names `step`, until killed or interrupted.
pub fn pause_point(step: &str) {
    if asked(PAUSE_ENV, step) {
        eprintln!("labctl: paused at {step}");
        // No deadline: the test decides when this ends, by a signal.
        while labns::signals::pending().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The injected failure of `step`, if `LABCTL_FAIL_AT` names it.
pub fn injected_failure(step: &str) -> Option<Error> {
    asked(FAIL_ENV, step).then(|| Error::InjectedFailure {
        step: step.to_string(),
    })
}
