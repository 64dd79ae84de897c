//! VPP config (todo)
