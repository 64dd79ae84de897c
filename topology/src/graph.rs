//! Graph rendering (todo)
