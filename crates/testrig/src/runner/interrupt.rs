//! Ctrl-C and SIGTERM: the first stops scheduling and lets running testcases finish for a
//! short grace period, after which the partial report is written and the plan exits 130;
//! the second kills every driver process group and exits at once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

/// Exit status of an interrupted run (128 + SIGINT), as shells report it.
pub const INTERRUPTED_EXIT_CODE: u8 = 130;

/// Installs the handler. A process can only have one; a second install (a test harness
/// running two plans in one process) keeps the first, which sets the same flag.
pub fn install_interrupt_handler(grace_seconds: f64) {
    let _ = ctrlc::set_handler(move || {
        if SIGNALS.fetch_add(1, Ordering::SeqCst) > 0 {
            eprintln!("testrig: interrupted again; killing driver processes and exiting now");
            crate::drivers::kill_all_process_groups();
            std::process::exit(i32::from(INTERRUPTED_EXIT_CODE));
        }
        INTERRUPTED.store(true, Ordering::SeqCst);
        eprintln!(
            "testrig: interrupted; waiting up to {grace_seconds}s for running testcases, then writing the reports (Ctrl-C again exits at once)"
        );
    });
}

/// True once an interrupt arrived: schedule nothing new.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
