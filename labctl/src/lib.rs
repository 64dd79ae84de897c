//! labctl (issue: labctl). Placeholder until that issue lands.
