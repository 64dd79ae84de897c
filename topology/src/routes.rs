//! Underlay routes (todo)
