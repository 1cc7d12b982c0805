//! The runtime: builder, runtime, handle, metrics. Assembles the executor,
//! reactor, timers and topology into what applications start.

mod builder;
mod enter_guard;
mod handle;
mod metrics;
#[allow(clippy::module_inception)]
mod runtime;

pub use builder::Builder;
pub use enter_guard::EnterGuard;
pub use handle::{Handle, TryCurrentError};
pub use metrics::RuntimeMetrics;
pub use runtime::Runtime;
