//! Intent controller (issue: controller). Placeholder until that issue lands.
