//! The intent controller wire contract (issue: controller). Placeholder until that issue lands.
