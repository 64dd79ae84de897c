//! Everything that touches packets: the SRH codec and (soon) the eBPF programs.
pub mod srh;
