//! The lab topology model (issue: labctl). Placeholder until that issue lands.
