//! SRH codec (in progress).
