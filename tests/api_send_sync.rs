//! Auto traits of the public types: what users may move or share across threads.

use std::panic::{RefUnwindSafe, UnwindSafe};

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}
fn unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}
fn debug<T: std::fmt::Debug>() {}

#[test]
fn runtime_types() {
    send::<hioload::Runtime>();
    sync::<hioload::Runtime>();
    send::<hioload::Handle>();
    sync::<hioload::Handle>();
    send::<hioload::Builder>();
    sync::<hioload::Builder>();
    send::<hioload::runtime::RuntimeMetrics>();
    sync::<hioload::runtime::RuntimeMetrics>();
    debug::<hioload::Runtime>();
    debug::<hioload::Handle>();
    debug::<hioload::Builder>();
    debug::<hioload::runtime::RuntimeMetrics>();
    debug::<hioload::runtime::TryCurrentError>();
    debug::<hioload::runtime::EnterGuard<'static>>();
}

#[test]
fn task_types() {
    send::<hioload::JoinHandle<u32>>();
    sync::<hioload::JoinHandle<u32>>();
    unpin::<hioload::JoinHandle<u32>>();
    unwind_safe::<hioload::JoinHandle<u32>>();
    send::<hioload::JoinError>();
    sync::<hioload::JoinError>();
    send::<hioload::task::AbortHandle>();
    sync::<hioload::task::AbortHandle>();
    send::<hioload::task::Id>();
    sync::<hioload::task::Id>();
    send::<hioload::task::JoinSet<u32>>();
    sync::<hioload::task::JoinSet<u32>>();
    unpin::<hioload::task::JoinSet<u32>>();
    send::<hioload::task::CancellationToken>();
    sync::<hioload::task::CancellationToken>();
    unwind_safe::<hioload::task::CancellationToken>();
    send::<hioload::task::WaitForCancellationFutureOwned>();
    send::<hioload::task::DropGuard>();
    debug::<hioload::JoinHandle<u32>>();
    debug::<hioload::JoinError>();
    debug::<hioload::task::AbortHandle>();
    debug::<hioload::task::JoinSet<u32>>();
    debug::<hioload::task::Id>();
    debug::<hioload::task::CancellationToken>();
    debug::<hioload::task::DropGuard>();
}
