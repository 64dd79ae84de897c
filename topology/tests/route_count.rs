//! Counting routes does not build them (issue 11 item 8): on a chain of
//! 3,000 routers the table holds 9 million routes (about a gigabyte), the
//! count needs memory linear in the topology. Measured with a counting
//! allocator, so this file holds this one test (tests of one binary share
//! the allocator).
#![allow(clippy::unwrap_used)]
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, keeping the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is System's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is System's.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most memory `f` held at once beyond what was in use before.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = IN_USE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst) - before)
}

#[test]
fn counting_a_3000_router_chain_does_not_build_its_table() {
    const ROUTERS: usize = 3000;
    let t = topology::parse_str(&topology::generate::chain_yaml(ROUTERS), "chain.yaml").unwrap();
    let (total, peak) = peak_during(|| topology::routes::count(&t));
    // Every router reaches the 2,999 other locators and both host
    // prefixes; each host has its default route.
    assert_eq!(total, ROUTERS * (ROUTERS - 1 + 2) + 2);
    // The table would hold ROUTERS² routes of this size alone.
    let table_bytes = ROUTERS * ROUTERS * std::mem::size_of::<topology::routes::Route>();
    assert!(
        peak < ROUTERS * 1024,
        "counting held {peak} bytes at once (the table is at least {table_bytes})"
    );
    let (by_node, peak) = peak_during(|| topology::routes::count_by_node(&t));
    assert!(peak < ROUTERS * 1024, "count_by_node held {peak} bytes");
    assert_eq!(by_node["r0"], ROUTERS + 1);
    assert_eq!(by_node["ha"], 1);
}
